import { DataSource } from 'typeorm';

import { createUser } from './auth-app';
import { throttledAuthApp } from './throttle-app';

/** The /64s of one /48, as a customer given the /48 would rotate through them. */
const siteNetwork = (site: string, net: number, host = 1) =>
  `${site}:${net.toString(16)}::${host.toString(16)}`;

/** How many answers had each status. */
function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/**
 * A client network is an IPv4 address or an IPv6 /64, but providers give one customer a /48
 * (or a /56): 65,536 /64s. A /48 counts as at most four networks, whichever of its /64s it
 * comes from; each /64 keeps its own budget within it, and IPv4 is counted as before.
 */
describe('login throttle and an IPv6 /48 rotating through its /64s', () => {
  const auth = throttledAuthApp('throttle-ipv6-prefix', {
    LOGIN_MAX_FAILURES_PER_IP: '3',
    LOGIN_USER_CEILING: '1000',
    LOGIN_CHECK_WAIT: '0',
  });

  const guess = (username: string, forwardedFor: string) =>
    auth.login(username, 'not the password', forwardedFor);

  /** Guesses one made-up username after another, each from its own client address. */
  async function spray(addresses: string[]): Promise<number[]> {
    const statuses: number[] = [];
    for (const [i, address] of addresses.entries()) {
      statuses.push((await guess(`sprayed-${i}-${Math.random()}`, address)).status);
    }
    return statuses;
  }

  it("holds a /48 to four networks' guesses, however many of its /64s a sprayer uses", async () => {
    const site = '2001:db8:5eed';
    const addresses = Array.from({ length: 10 }, (_, net) =>
      [1, 2, 3].map((host) => siteNetwork(site, net, host)),
    ).flat();
    expect(tally(await spray(addresses))).toEqual({ 401: 12, 429: 18 });
    // One login.throttled for the /48, not one per /64 it came from.
    expect(
      tally(await spray(Array.from({ length: 20 }, (_, net) => siteNetwork(site, 100 + net)))),
    ).toEqual({ 429: 20 });
    const [{ count }] = await auth.app
      .get(DataSource)
      .query(
        `SELECT count(*) AS count FROM auth_security_events WHERE type = 'login.throttled' AND ip LIKE $1`,
        [`${site}:%`],
      );
    expect(Number(count)).toBe(1);
    // Another /48 is untouched.
    expect(await spray([siteNetwork('2001:db8:5eee', 0)])).toEqual([401]);
  });

  it('still holds one /64 to its own budget within a /48', async () => {
    const site = '2001:db8:5ef0';
    const statuses = await spray([1, 2, 3, 4, 5].map((host) => siteNetwork(site, 7, host)));
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(await spray([siteNetwork(site, 8)])).toEqual([401]);
  });

  it('counts IPv4 addresses one by one, as before: a /24 is 256 networks', async () => {
    const addresses = Array.from({ length: 10 }, (_, i) =>
      [1, 2, 3].map(() => `198.51.100.${i + 1}`),
    ).flat();
    expect(tally(await spray(addresses))).toEqual({ 401: 30 });
  });
});

/**
 * Right passwords are not throttled; the hashing slots are shared between sources (client
 * networks, usernames). A /48 sending right logins for many accounts, a fresh /64 for each,
 * must not count as that many sources and keep another network's logins out.
 */
describe('password hashing shared with an IPv6 /48 rotating through its /64s', () => {
  // One slot and sixteen waiting places, filled by one sender per account.
  const auth = throttledAuthApp('password-work-ipv6-prefix', {
    PASSWORD_HASH_CONCURRENCY: '1',
    PASSWORD_HASH_QUEUE: '16',
  });

  type Account = Awaited<ReturnType<typeof createUser>>;

  const login = (account: Account, network: string) =>
    auth.login(account.username, account.password, network);

  it('logs another network in while a /48 floods right logins, one account and /64 per sender', async () => {
    const flooders: Account[] = [];
    for (let i = 0; i < 24; i++) flooders.push(await createUser(auth.http, auth.adminCookie));
    const other = await createUser(auth.http, auth.adminCookie);

    const flood: number[] = [];
    let flooding = true;
    let net = 0;
    const senders = flooders.map(async (account) => {
      while (flooding) {
        flood.push((await login(account, siteNetwork('2001:db8:f10d', net++ % 0xffff))).status);
      }
    });
    const statuses: number[] = [];
    try {
      // Once the flood fills the queue.
      while (flood.length < 24) await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 15; i++) {
        statuses.push((await login(other, '203.0.113.9')).status);
      }
    } finally {
      flooding = false;
      await Promise.all(senders);
    }
    expect(statuses).toEqual(Array.from({ length: 15 }, () => 200));
    expect(Object.keys(tally(flood)).sort()).toEqual(['200', '429']);
  }, 120_000);
});
