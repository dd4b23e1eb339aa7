import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

import { CreateUserDto } from './create-user.dto';

function usernameErrors(username: unknown): { username: unknown; errors: string[] } {
  const dto = plainToInstance(CreateUserDto, {
    username,
    password: 'a long enough password',
    roles: ['customer'],
  });
  const errors = validateSync(dto).flatMap((error) => Object.values(error.constraints ?? {}));
  return { username: dto.username, errors };
}

describe('CreateUserDto', () => {
  it('stores a username in lower case without the spaces around it', () => {
    expect(usernameErrors('  Carol.Smith ')).toEqual({ username: 'carol.smith', errors: [] });
  });

  // Login refuses these (400): a name made of them would be stored as another one.
  it.each(['\u212Aarol', 'carol\u0130', '\u017Fam'])(
    'refuses %j, not lower-cased into ASCII',
    (name) => {
      const { errors } = usernameErrors(name);
      expect(errors).toEqual([
        'username must be 3 to 64 letters, digits, dots, dashes or underscores',
      ]);
    },
  );
});
