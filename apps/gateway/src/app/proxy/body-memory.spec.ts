import fc from 'fast-check';

import { NETWORKS_PER_SITE } from '@cloakroom/service-kit';

import { BodyHold, BodyMemory } from './body-memory';

describe('BodyMemory', () => {
  it("counts a client by its network: an IPv6 /64's addresses share one share", () => {
    const memory = new BodyMemory({ total: 1_000, perClient: 100 });
    expect(memory.holdFor('2001:db8:1:2::a').take(60)).toBeUndefined();
    expect(memory.holdFor('2001:db8:1:2:ffff::b').take(60)).toBe('client');
    expect(memory.holdFor('2001:db8:1:3::a').take(60)).toBeUndefined();
    expect(memory.holdFor('::ffff:192.0.2.1').take(60)).toBeUndefined();
    expect(memory.holdFor('192.0.2.1').take(60)).toBe('client');
    expect(memory.heldBytes()).toBe(180);
  });

  it("bounds the /64s of one IPv6 /48 together at four networks' worth, each within its own", () => {
    const memory = new BodyMemory({ total: 10_000, perClient: 100 });
    expect(NETWORKS_PER_SITE).toBe(4);
    // Each /64 of 2001:db8:1::/48 still has its own 100 bytes...
    const first = memory.holdFor('2001:db8:1:1::a');
    expect(first.take(100)).toBeUndefined();
    expect(memory.holdFor('2001:db8:1:1::b').take(1)).toBe('client');
    for (const network of ['2', '3', '4']) {
      expect(memory.holdFor(`2001:db8:1:${network}::a`).take(100)).toBeUndefined();
    }
    // ...but the /48 holds 400 in all, however many /64s it rotates through.
    for (let network = 5; network < 50; network += 1) {
      expect(memory.holdFor(`2001:db8:1:${network.toString(16)}::a`).take(1)).toBe('client');
    }
    expect(memory.heldBytes()).toBe(400);
    // Another /48 and IPv4 clients have their own shares.
    expect(memory.holdFor('2001:db8:2:1::a').take(100)).toBeUndefined();
    expect(memory.holdFor('192.0.2.1').take(100)).toBeUndefined();
    expect(memory.holdFor('192.0.2.2').take(100)).toBeUndefined();
    // What a /64 gives back, another /64 of its /48 may take.
    first.release();
    expect(memory.holdFor('2001:db8:1:ffff::a').take(100)).toBeUndefined();
    expect(memory.holdFor('2001:db8:1:fffe::a').take(1)).toBe('client');
    expect(memory.heldBytes()).toBe(700);
  });

  it('counts IPv4 clients, IPv4-mapped ones included, by address only', () => {
    const memory = new BodyMemory({ total: 100_000, perClient: 100 });
    for (let host = 1; host <= 100; host += 1) {
      expect(memory.holdFor(`::ffff:198.51.100.${host}`).take(100)).toBeUndefined();
      expect(memory.holdFor(`203.0.113.${host}`).take(100)).toBeUndefined();
    }
    expect(memory.heldBytes()).toBe(20_000);
  });

  it('takes nothing it refuses, and gives back each hold once', () => {
    const memory = new BodyMemory({ total: 150, perClient: 100 });
    const first = memory.holdFor('192.0.2.1');
    expect(first.take(90)).toBeUndefined();
    expect(memory.holdFor('192.0.2.2').take(90)).toBe('gateway');
    expect(first.take(20)).toBe('client');
    expect(memory.heldBytes('192.0.2.1')).toBe(90);
    first.release();
    first.release();
    expect(memory.heldBytes()).toBe(0);
    expect(memory.heldBytes('192.0.2.1')).toBe(0);
    expect(memory.holdFor('192.0.2.2').take(100)).toBeUndefined();
  });
});

/** What BodyMemory should hold: each hold's bytes by client network and site, nothing else. */
interface Model {
  holds: { network: string; site?: string; bytes: number }[];
}

interface Real {
  memory: BodyMemory;
  holds: BodyHold[];
}

// A site (4 × 100) holds less than the whole budget, so each limit can be the one that refuses.
const LIMITS = { total: 650, perClient: 100 };
const SITE_LIMIT = LIMITS.perClient * NETWORKS_PER_SITE;
// Two IPv4 clients; one /64 under two addresses and four more /64s of the same /48; another /48;
// an IPv4 client seen as IPv6.
const CLIENTS = [
  { address: '192.0.2.1', network: '192.0.2.1' },
  { address: '192.0.2.2', network: '192.0.2.2' },
  { address: '2001:db8::1', network: '2001:db8::', site: '2001:db8::' },
  { address: '2001:db8::ffff', network: '2001:db8::', site: '2001:db8::' },
  { address: '2001:db8:0:1::1', network: '2001:db8:0:1::', site: '2001:db8::' },
  { address: '2001:db8:0:2::1', network: '2001:db8:0:2::', site: '2001:db8::' },
  { address: '2001:db8:0:3::1', network: '2001:db8:0:3::', site: '2001:db8::' },
  { address: '2001:db8:0:4::1', network: '2001:db8:0:4::', site: '2001:db8::' },
  { address: '2001:db8:1::1', network: '2001:db8:1::', site: '2001:db8:1::' },
  { address: '::ffff:192.0.2.1', network: '192.0.2.1' },
];

const heldBy = (model: Model, which: Partial<{ network: string; site: string }> = {}) =>
  model.holds
    .filter((hold) => which.network === undefined || hold.network === which.network)
    .filter((hold) => which.site === undefined || hold.site === which.site)
    .reduce((sum, hold) => sum + hold.bytes, 0);

class Open implements fc.Command<Model, Real> {
  constructor(readonly address: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const { address, ...client } = CLIENTS[this.address];
    model.holds.push({ ...client, bytes: 0 });
    real.holds.push(real.memory.holdFor(address));
  }
  toString = () => `open(${CLIENTS[this.address].address})`;
}

class Take implements fc.Command<Model, Real> {
  constructor(
    readonly hold: number,
    readonly bytes: number,
  ) {}
  check = (model: Readonly<Model>) => model.holds.length > 0;
  run(model: Model, real: Real): void {
    const index = this.hold % model.holds.length;
    const hold = model.holds[index];
    const expected =
      heldBy(model, { network: hold.network }) + this.bytes > LIMITS.perClient ||
      (hold.site !== undefined && heldBy(model, { site: hold.site }) + this.bytes > SITE_LIMIT)
        ? 'client'
        : heldBy(model) + this.bytes > LIMITS.total
          ? 'gateway'
          : undefined;
    if (!expected) hold.bytes += this.bytes;
    expect(real.holds[index].take(this.bytes)).toBe(expected);
    expect(real.memory.heldBytes()).toBe(heldBy(model));
  }
  toString = () => `take(#${this.hold}, ${this.bytes})`;
}

class Release implements fc.Command<Model, Real> {
  constructor(readonly hold: number) {}
  check = (model: Readonly<Model>) => model.holds.length > 0;
  run(model: Model, real: Real): void {
    const index = this.hold % model.holds.length;
    model.holds[index].bytes = 0;
    real.holds[index].release();
    for (const { address, network } of CLIENTS) {
      expect(real.memory.heldBytes(address)).toBe(heldBy(model, { network }));
    }
    expect(real.memory.heldBytes()).toBe(heldBy(model));
  }
  toString = () => `release(#${this.hold})`;
}

describe('BodyMemory against a model', () => {
  it('holds what the model holds, refuses what it refuses, and gives back all', () => {
    const take = fc
      .tuple(fc.nat(), fc.integer({ min: 20, max: 120 }))
      .map(([h, b]) => new Take(h, b));
    // fc.commands picks among its arbitraries evenly: takes are listed twice, and sequences run
    // long (`size: 'max'`), so that they fill a site's /64s before they give back.
    const commands = [
      fc.nat(CLIENTS.length - 1).map((address) => new Open(address)),
      take,
      take,
      fc.nat().map((hold) => new Release(hold)),
    ];
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), (sequence) => {
        const real: Real = { memory: new BodyMemory(LIMITS), holds: [] };
        const model: Model = { holds: [] };
        fc.modelRun(() => ({ model, real }), sequence);
        real.holds.forEach((hold) => hold.release());
        expect(real.memory.heldBytes()).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
