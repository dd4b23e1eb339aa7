import { applyDecorators } from '@nestjs/common';
import { buildMessage, IsNotEmpty, IsString, ValidateBy } from 'class-validator';

import { fitsPasswordLength, PASSWORD_MAX_LENGTH } from '../../users/password-policy';

/**
 * A password given to be checked (login, re-authentication, the current one of a change): a
 * non-empty string no longer than a password the policy accepts, in any Unicode form it may be
 * typed in (`fitsPasswordLength`). Its length is not counted in UTF-16 units nor as typed
 * alone: the same password typed decomposed is longer, and must sign in all the same.
 */
export function PasswordInputField(): PropertyDecorator {
  return applyDecorators(
    IsString(),
    IsNotEmpty(),
    ValidateBy({
      name: 'fitsPasswordLength',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || fitsPasswordLength(value),
        defaultMessage: buildMessage(
          (eachPrefix) =>
            `${eachPrefix}$property must be at most ${PASSWORD_MAX_LENGTH} characters long`,
        ),
      },
    }),
  );
}
