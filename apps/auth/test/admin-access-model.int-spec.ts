import { randomUUID } from 'node:crypto';

import { getRepositoryToken } from '@nestjs/typeorm';
import fc from 'fast-check';
import request from 'supertest';
import { Repository } from 'typeorm';

import { User } from '../src/app/users/entities/user.entity';
import { PasswordService } from '../src/app/users/password.service';
import { AuthApp, startAuthApp, strongPassword } from './auth-app';

/** Administrators acting in a run; every other account is disabled when a run starts. */
const ACTORS = 3;
const ROLE_SETS: string[][] = [['admin'], ['customer'], ['admin', 'support'], []];

interface Actor {
  id: string;
  username: string;
  roles: string[];
  disabled: boolean;
  /** A bearer token of a live session, or null once a disable ended it. */
  token: string | null;
}

interface Model {
  actors: Actor[];
}

interface Real {
  run: number;
}

const isEnabledAdmin = (actor: Pick<Actor, 'roles' | 'disabled'>) =>
  !actor.disabled && actor.roles.includes('admin');
const sorted = (roles: string[]) => [...new Set(roles)].sort().join('+');

/**
 * Who may change whose access, and create users, played against a plain model: several
 * administrators change each other's roles and accounts, create users, and create them while
 * another administrator demotes or disables them (made deterministic: the change runs while the
 * creation's password is being hashed, after the guard let it in). After each command the
 * database and the actors' live sessions hold what the model does.
 */
describe('administrators changing access and creating users (model-based)', () => {
  let auth: AuthApp;
  let rows: Repository<User>;
  let actorHash: string;
  const actorPassword = strongPassword();
  /** Runs while the password a creation sends is hashed (see CreateWhileChanged). */
  const whileHashing = new Map<string, () => Promise<void>>();
  let runs = 0;
  let created = 0;

  beforeAll(async () => {
    auth = await startAuthApp('admin-access-model', { PASSWORD_HASH_QUEUE: '1000' });
    rows = auth.app.get<Repository<User>>(getRepositoryToken(User));
    const passwords = auth.app.get(PasswordService);
    actorHash = await passwords.hash(actorPassword);
    const hash = passwords.hash.bind(passwords);
    jest.spyOn(passwords, 'hash').mockImplementation(async (given) => {
      const hashed = await hash(given);
      await whileHashing.get(given)?.();
      return hashed;
    });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await auth?.close();
  });

  const http = () => auth.http;
  const bearer = (token: string | null) => ({ Authorization: `Bearer ${token ?? 'none'}` });

  async function login(actor: Actor): Promise<number> {
    const response = await request(http())
      .post('/api/auth/login')
      .send({ username: actor.username, password: actorPassword, transport: 'bearer' });
    if (response.status === 200) actor.token = response.body.token;
    return response.status;
  }

  /** What an access change by `by` answers, per the model. */
  function expectedChange(
    model: Model,
    by: number,
    target: number,
    change: { roles: string[] } | { disabled: boolean },
  ): number {
    const caller = model.actors[by];
    if (!caller.token) return 401;
    if (!isEnabledAdmin(caller)) return 403;
    const subject = model.actors[target];
    const after = { ...subject, ...change };
    if (by === target && !isEnabledAdmin(after)) return 409;
    const admins = model.actors.filter((a, i) =>
      i === target ? isEnabledAdmin(after) : isEnabledAdmin(a),
    );
    if (!admins.length) return 409;
    return 200;
  }

  function applyChange(
    model: Model,
    target: number,
    change: { roles: string[] } | { disabled: boolean },
  ): void {
    const subject = model.actors[target];
    Object.assign(subject, change);
    if ('roles' in change) subject.roles = [...new Set(change.roles)];
    if (subject.disabled) subject.token = null;
  }

  function sendChange(
    by: number,
    target: number,
    change: { roles: string[] } | { disabled: boolean },
    model: Model,
  ): request.Test {
    const route = 'roles' in change ? 'roles' : 'disabled';
    return request(http())
      .put(`/api/auth/users/${model.actors[target].id}/${route}`)
      .set(bearer(model.actors[by].token))
      .send(change);
  }

  /** The database and every live session of the actors hold what the model does. */
  async function expectAsModel(model: Model): Promise<void> {
    for (const actor of model.actors) {
      const row = await rows.findOneByOrFail({ id: actor.id });
      expect({ user: actor.username, roles: sorted(row.roles), disabled: row.disabled }).toEqual({
        user: actor.username,
        roles: sorted(actor.roles),
        disabled: actor.disabled,
      });
      if (actor.token) {
        const seen = await request(http()).get('/api/auth/session').set(bearer(actor.token));
        expect({
          user: actor.username,
          status: seen.status,
          roles: sorted(seen.body.user?.roles ?? []),
        }).toEqual({
          user: actor.username,
          status: 200,
          roles: sorted(actor.roles),
        });
      }
    }
  }

  const changeArb = fc.oneof(
    fc.integer({ min: 0, max: ROLE_SETS.length - 1 }).map((i) => ({ roles: ROLE_SETS[i] })),
    fc.boolean().map((disabled) => ({ disabled })),
  );
  const actorArb = fc.integer({ min: 0, max: ACTORS - 1 });

  class ChangeAccess implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly by: number,
      readonly target: number,
      readonly change: { roles: string[] } | { disabled: boolean },
    ) {}
    check = () => true;
    async run(model: Model): Promise<void> {
      const expected = expectedChange(model, this.by, this.target, this.change);
      const response = await sendChange(this.by, this.target, this.change, model);
      expect(response.status).toBe(expected);
      if (expected === 200) applyChange(model, this.target, this.change);
      await expectAsModel(model);
    }
    toString = () => `ChangeAccess(${this.by} -> ${this.target}, ${JSON.stringify(this.change)})`;
  }

  class Login implements fc.AsyncCommand<Model, Real> {
    constructor(readonly who: number) {}
    check = () => true;
    async run(model: Model): Promise<void> {
      const actor = model.actors[this.who];
      expect(await login(actor)).toBe(actor.disabled ? 401 : 200);
      await expectAsModel(model);
    }
    toString = () => `Login(${this.who})`;
  }

  /**
   * `by` creates a user; with `changer`, that administrator changes `by`'s access while the
   * creation's password is hashed. The creation stands only if `by` is still an enabled
   * administrator once the change is answered.
   */
  class CreateWhileChanged implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly by: number,
      readonly roles: string[],
      readonly changer: number | null,
      readonly change: { roles: string[] } | { disabled: boolean },
    ) {}
    check = () => true;
    async run(model: Model, real: Real): Promise<void> {
      const creator = model.actors[this.by];
      const username = `made-${process.pid}-${real.run}-${created++}`;
      const password = strongPassword();
      // The guard's verdict, from the session the creation is sent with.
      const admitted = creator.token ? (isEnabledAdmin(creator) ? 'in' : 403) : 401;
      const change = { expected: 0, answered: 0 };
      if (this.changer !== null && admitted === 'in') {
        const changer = this.changer;
        change.expected = expectedChange(model, changer, this.by, this.change);
        whileHashing.set(password, async () => {
          change.answered = (await sendChange(changer, this.by, this.change, model)).status;
          if (change.answered === 200) applyChange(model, this.by, this.change);
        });
      }
      try {
        const response = await request(http())
          .post('/api/auth/users')
          .set(bearer(creator.token))
          .send({ username, password, roles: this.roles });
        // Admitted, it stands only if its creator is an enabled administrator once it is written.
        const expected = admitted !== 'in' ? admitted : isEnabledAdmin(creator) ? 201 : 403;
        expect({ created: response.status, change: change.answered }).toEqual({
          created: expected,
          change: change.expected,
        });
        const row = await rows.findOneBy({ username });
        expect(row !== null).toBe(expected === 201);
        // Out of the model: only the actors may be enabled administrators.
        if (row) await rows.update({ id: row.id }, { disabled: true });
      } finally {
        whileHashing.delete(password);
      }
      await expectAsModel(model);
    }
    toString = () =>
      `CreateWhileChanged(${this.by}, ${JSON.stringify(this.roles)}, by ${this.changer}: ${JSON.stringify(this.change)})`;
  }

  it('answers and stores access changes and creations as the model does', async () => {
    const commands = [
      fc
        .tuple(actorArb, actorArb, changeArb)
        .map(([by, target, change]) => new ChangeAccess(by, target, change)),
      fc
        .tuple(actorArb, actorArb, changeArb)
        .map(([by, target, change]) => new ChangeAccess(by, target, change)),
      actorArb.map((who) => new Login(who)),
      fc
        .tuple(
          actorArb,
          fc.constantFrom<string[]>(['admin'], ['customer']),
          fc.option(actorArb),
          changeArb,
        )
        .map(([by, roles, changer, change]) => new CreateWhileChanged(by, roles, changer, change)),
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 12 }), async (sequence) => {
        const run = ++runs;
        // Only this run's actors are enabled administrators: the last-admin rule can bind.
        await rows.createQueryBuilder().update().set({ disabled: true }).execute();
        const actors: Actor[] = [];
        for (let i = 0; i < ACTORS; i++) {
          const actor: Actor = {
            id: randomUUID(),
            username: `actor-${process.pid}-${run}-${i}`,
            roles: ['admin'],
            disabled: false,
            token: null,
          };
          await rows.insert({
            id: actor.id,
            username: actor.username,
            passwordHash: actorHash,
            roles: actor.roles,
          });
          expect(await login(actor)).toBe(200);
          actors.push(actor);
        }
        await fc.asyncModelRun(() => ({ model: { actors }, real: { run } }), sequence);
      }),
      { numRuns: 25 },
    );
  }, 240_000);
});
