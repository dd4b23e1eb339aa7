import request from 'supertest';

import { createUser } from './auth-app';
import { throttledAuthApp } from './throttle-app';

/** A user the test created, with the password it logs in with. */
type Account = Awaited<ReturnType<typeof createUser>>;

const FLOOD_NETWORK = '198.51.100.50';
const OTHER_NETWORK = '203.0.113.9';

/** Parallel senders per flooding account: as many as the login throttle lets be checked. */
const SENDERS_PER_ACCOUNT = 5;

/** Logins the user on the other network makes, one after another, while the flood goes on. */
const OTHER_LOGINS = 15;

/** The answers of a flood: how many of each status, and one refusal to look at. */
interface FloodAnswers {
  statuses: Record<number, number>;
  refusal?: request.Response;
}

/**
 * Password checks are not throttled when they are right, and each takes a hashing slot: one
 * network, or one account, sending right logins (or re-authentications) as fast as it can must
 * not keep everybody else's logins out. The hashing capacity is shared between client networks
 * and usernames: the flood's excess is refused with 429, another network still logs in.
 */
describe('password hashing shared between client networks under a flood of right passwords', () => {
  // One slot and two waiting places: a flood fills them at once, whatever the machine.
  const auth = throttledAuthApp('password-work-fair-share', {
    PASSWORD_HASH_CONCURRENCY: '1',
    PASSWORD_HASH_QUEUE: '2',
  });

  const login = (account: Account, network: string) =>
    auth.login(account.username, account.password, network);

  async function accounts(count: number): Promise<Account[]> {
    const created: Account[] = [];
    for (let i = 0; i < count; i++) {
      created.push(await createUser(auth.http, auth.adminCookie));
    }
    return created;
  }

  /**
   * Runs `send` in parallel senders, each over and over, until `meanwhile` ends; answers
   * `meanwhile`'s result and the flood's answers.
   */
  async function duringFlood<T>(
    senders: Array<() => Promise<request.Response>>,
    meanwhile: () => Promise<T>,
  ): Promise<[T, FloodAnswers]> {
    const answers: FloodAnswers = { statuses: {} };
    let flooding = true;
    const running = senders.map(async (send) => {
      while (flooding) {
        const answer = await send();
        answers.statuses[answer.status] = (answers.statuses[answer.status] ?? 0) + 1;
        if (answer.status !== 200) answers.refusal ??= answer;
      }
    });
    try {
      return [await meanwhile(), answers];
    } finally {
      flooding = false;
      await Promise.all(running);
    }
  }

  /** Logs `account` in from the other network, one login after another; answers the statuses. */
  async function otherLogins(account: Account): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < OTHER_LOGINS; i++) {
      statuses.push((await login(account, OTHER_NETWORK)).status);
    }
    return statuses;
  }

  /** The flood was refused for its own excess only: 429 with `Retry-After`, never a 503. */
  function expectRefusedOverShare(flood: FloodAnswers): void {
    expect(Object.keys(flood.statuses).sort()).toEqual(['200', '429']);
    expect(flood.refusal?.status).toBe(429);
    expect(flood.refusal?.headers['retry-after']).toBe('1');
    expect(flood.refusal?.body).toEqual({ statusCode: 429, message: expect.any(String) });
  }

  it('logs another network in while one network floods right logins with several accounts', async () => {
    const flooders = await accounts(4);
    const [other] = await accounts(1);
    const senders = flooders.flatMap((account) =>
      Array.from({ length: SENDERS_PER_ACCOUNT }, () => () => login(account, FLOOD_NETWORK)),
    );
    const [statuses, flood] = await duringFlood(senders, () => otherLogins(other));
    expect(statuses).toEqual(Array.from({ length: OTHER_LOGINS }, () => 200));
    expectRefusedOverShare(flood);
  });

  it('logs another network in while one account floods right re-authentications', async () => {
    const [flooder, other] = await accounts(2);
    // Each sender holds a session of its own and goes on with the token each rotation gives.
    const senders: Array<() => Promise<request.Response>> = [];
    for (let i = 0; i < SENDERS_PER_ACCOUNT; i++) {
      let token = (await login(flooder, FLOOD_NETWORK).expect(200)).body.token as string;
      senders.push(async () => {
        const answer = await request(auth.http)
          .post('/api/auth/reauthenticate')
          .set('X-Forwarded-For', FLOOD_NETWORK)
          .set('Authorization', `Bearer ${token}`)
          .send({ password: flooder.password });
        if (answer.status === 200) token = answer.body.token;
        return answer;
      });
    }
    const [statuses, flood] = await duringFlood(senders, () => otherLogins(other));
    expect(statuses).toEqual(Array.from({ length: OTHER_LOGINS }, () => 200));
    expectRefusedOverShare(flood);
  });
});
