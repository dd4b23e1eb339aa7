import fc from 'fast-check';

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

/** What BodyMemory should hold: each hold's bytes by client network, nothing else. */
interface Model {
  holds: { client: string; bytes: number }[];
}

interface Real {
  memory: BodyMemory;
  holds: BodyHold[];
}

const LIMITS = { total: 600, perClient: 400 };
// Two IPv4 clients, one IPv6 /64 under two addresses, and an IPv4 client seen as IPv6.
const ADDRESSES = ['192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::ffff', '::ffff:192.0.2.1'];
const NETWORKS = ['192.0.2.1', '192.0.2.2', '2001:db8::', '2001:db8::', '192.0.2.1'];

const heldBy = (model: Model, client?: string) =>
  model.holds
    .filter((hold) => client === undefined || hold.client === client)
    .reduce((sum, hold) => sum + hold.bytes, 0);

class Open implements fc.Command<Model, Real> {
  constructor(readonly address: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    model.holds.push({ client: NETWORKS[this.address], bytes: 0 });
    real.holds.push(real.memory.holdFor(ADDRESSES[this.address]));
  }
  toString = () => `open(${ADDRESSES[this.address]})`;
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
      heldBy(model, hold.client) + this.bytes > LIMITS.perClient
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
    for (const [i, address] of ADDRESSES.entries()) {
      expect(real.memory.heldBytes(address)).toBe(heldBy(model, NETWORKS[i]));
    }
    expect(real.memory.heldBytes()).toBe(heldBy(model));
  }
  toString = () => `release(#${this.hold})`;
}

describe('BodyMemory against a model', () => {
  it('holds what the model holds, refuses what it refuses, and gives back all', () => {
    const commands = [
      fc.nat(ADDRESSES.length - 1).map((address) => new Open(address)),
      fc.tuple(fc.nat(), fc.integer({ min: 1, max: 300 })).map(([h, b]) => new Take(h, b)),
      fc.nat().map((hold) => new Release(hold)),
    ];
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80 }), (sequence) => {
        const real: Real = { memory: new BodyMemory(LIMITS), holds: [] };
        const model: Model = { holds: [] };
        fc.modelRun(() => ({ model, real }), sequence);
        real.holds.forEach((hold) => hold.release());
        expect(real.memory.heldBytes()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
