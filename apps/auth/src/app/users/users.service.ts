import { randomUUID } from 'node:crypto';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';

import { CreateUserDto } from './dto/create-user.dto';
import { User } from './entities/user.entity';
import { PasswordService } from './password.service';

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly passwords: PasswordService,
  ) {}

  findByUsername(username: string): Promise<User | null> {
    return this.users.findOneBy({ username: username.toLowerCase() });
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  count(): Promise<number> {
    return this.users.count();
  }

  async create(input: CreateUserDto): Promise<User> {
    const username = input.username.toLowerCase();
    if (await this.users.existsBy({ username })) {
      throw new ConflictException('Username already taken');
    }
    const user = this.users.create({
      id: randomUUID(),
      username,
      passwordHash: await this.passwords.hash(input.password),
      roles: [...new Set(input.roles)],
    });
    try {
      return await this.users.save(user);
    } catch (error) {
      // Two concurrent creations of one name: the unique index decides, the loser gets 409.
      if (error instanceof QueryFailedError && /unique/i.test(error.message)) {
        throw new ConflictException('Username already taken');
      }
      throw error;
    }
  }

  async setRoles(id: string, roles: string[]): Promise<User> {
    const user = await this.findById(id);
    if (!user) {
      throw new NotFoundException('User not found');
    }
    user.roles = [...new Set(roles)];
    return this.users.save(user);
  }

  /** Saves a new password hash, and keeps `user` in step with what is stored. */
  async setDisabled(id: string, disabled: boolean): Promise<User> {
    const user = await this.findById(id);
    if (!user) {
      throw new NotFoundException('User not found');
    }
    user.disabled = disabled;
    return this.users.save(user);
  }

  async setPassword(user: User, password: string): Promise<void> {
    const passwordHash = await this.passwords.hash(password);
    await this.users.update(user.id, { passwordHash });
    user.passwordHash = passwordHash;
  }

  /**
   * The user the credentials name, or null. Unknown usernames cost one argon2 verification,
   * as wrong passwords do.
   */
  async verifyCredentials(username: string, password: string): Promise<User | null> {
    const user = await this.findByUsername(username);
    const ok = await this.passwords.verify(user?.passwordHash, password);
    // A disabled account fails like a wrong password, after the same argon2 work.
    if (!ok || !user || user.disabled) {
      return null;
    }
    if (this.passwords.needsRehash(user.passwordHash)) {
      await this.setPassword(user, password);
    }
    return user;
  }
}
