import { RolesField } from './roles.field';

export class SetRolesDto {
  @RolesField()
  roles!: string[];
}
