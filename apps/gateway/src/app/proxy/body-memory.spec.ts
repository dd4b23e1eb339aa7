import { BodyMemory } from './body-memory';

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
