import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsString, Matches } from 'class-validator';

/** A list of role names, as sessions carry them to every service. */
export function RolesField(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ type: [String], example: ['customer'] }),
    IsArray(),
    ArrayMaxSize(16),
    ArrayUnique(),
    IsString({ each: true }),
    Matches(/^[a-z][a-z0-9_-]{0,31}$/, {
      each: true,
      message: 'each role must be a lower-case name of at most 32 characters',
    }),
  );
}
