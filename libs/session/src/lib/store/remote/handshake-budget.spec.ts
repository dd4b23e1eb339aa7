import { HandshakeBudget } from './handshake-budget';

describe('HandshakeBudget', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 0));

  it('lets an address start `burst` handshakes, refuses the next, and counts addresses apart', () => {
    const budget = new HandshakeBudget({ burst: 3, perSecond: 1 }, clock);
    expect([1, 2, 3, 4].map(() => budget.take('10.0.0.1'))).toEqual([true, true, true, false]);
    expect(budget.take('10.0.0.2')).toBe(true);
  });

  it('forgives failed handshakes at `perSecond`, never past `burst`', () => {
    const budget = new HandshakeBudget({ burst: 2, perSecond: 4 }, clock);
    budget.take('a');
    budget.take('a');
    now += 200; // 0.8 of a unit
    expect(budget.take('a')).toBe(false);
    now += 100; // 0.8 + 0.4 - the refused try took nothing
    expect(budget.take('a')).toBe(true);
    expect(budget.take('a')).toBe(false);
    now += 60_000;
    expect([1, 2, 3].map(() => budget.take('a'))).toEqual([true, true, false]);
  });

  it('gives a completed handshake its unit back, so callers with certificates are never short', () => {
    const budget = new HandshakeBudget({ burst: 2, perSecond: 0 }, clock);
    for (let i = 0; i < 100; i++) {
      expect(budget.take('a')).toBe(true);
      budget.giveBack('a');
    }
    expect(budget.size).toBe(0);
    // Under way at once: the burst is the bound.
    expect([1, 2, 3].map(() => budget.take('a'))).toEqual([true, true, false]);
    budget.giveBack('a');
    expect(budget.take('a')).toBe(true);
    // Giving back more than was taken does not raise the burst.
    budget.giveBack('a');
    budget.giveBack('a');
    budget.giveBack('a');
    expect([1, 2, 3].map(() => budget.take('a'))).toEqual([true, true, false]);
  });

  it("holds the addresses of an IPv6 /64 to four addresses' worth, whatever their notation", () => {
    const budget = new HandshakeBudget({ burst: 2, perSecond: 0 }, clock);
    const rotated = Array.from({ length: 100 }, (_, i) => `2001:db8:1:2::${(i + 1).toString(16)}`);
    expect(rotated.filter((address) => budget.take(address))).toHaveLength(8);
    for (const sameNetwork of [
      '2001:db8:1:2:ffff:ffff:ffff:ffff',
      '2001:0DB8:0001:0002:0000:0000:0000:0999',
      '2001:db8:1:2::999%eth0',
      '2001:db8:1:2::198.51.100.4',
    ]) {
      expect(budget.take(sameNetwork)).toBe(false);
    }
    // Another /64 of the same /48 has a budget of its own.
    expect(budget.take('2001:db8:1:3::1')).toBe(true);
  });

  it('leaves the other hosts of a /64 the rest of it when one fails from its own address', () => {
    const budget = new HandshakeBudget({ burst: 2, perSecond: 0 }, clock);
    expect([1, 2, 3].map(() => budget.take('2001:db8::bad'))).toEqual([true, true, false]);
    const others = ['2001:db8::a', '2001:db8::b', '2001:db8::c'];
    expect(others.flatMap((address) => [budget.take(address), budget.take(address)])).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(budget.take('2001:db8::d')).toBe(false);
    // A completed handshake gives its /64's unit back too.
    budget.giveBack('2001:db8::a');
    expect(budget.take('2001:db8::d')).toBe(true);
  });

  it("forgives a /64's failed handshakes four times as fast as an address's", () => {
    const budget = new HandshakeBudget({ burst: 1, perSecond: 1 }, clock);
    const addresses = Array.from({ length: 8 }, (_, i) => `2001:db8:9:9::${i + 1}`);
    expect(addresses.filter((address) => budget.take(address))).toHaveLength(4);
    now += 500; // two of the /64's units, none of a used address's whole
    expect(addresses.slice(4).filter((address) => budget.take(address))).toHaveLength(2);
  });

  it('counts IPv4, mapped or not, per address only', () => {
    const budget = new HandshakeBudget({ burst: 2, perSecond: 0 }, clock);
    for (let i = 1; i <= 50; i++) {
      expect([budget.take(`198.51.100.${i}`), budget.take(`::ffff:203.0.113.${i}`)]).toEqual([
        true,
        true,
      ]);
    }
  });

  it('remembers at most 10,000 addresses, forgetting whole ones first', () => {
    const budget = new HandshakeBudget({ burst: 2, perSecond: 1 }, clock);
    budget.take('in-debt');
    budget.take('in-debt');
    for (let i = 0; i < 20_000; i++) {
      budget.take(`10.${i}`);
    }
    expect(budget.size).toBeLessThanOrEqual(10_000);
    // All took a unit within the same instant: none was whole, so the oldest went first.
    expect(budget.take('in-debt')).toBe(true);

    const whole = new HandshakeBudget({ burst: 2, perSecond: 1 }, clock);
    whole.take('in-debt');
    whole.take('in-debt');
    whole.take('whole-soon');
    for (let i = 0; i < 9_998; i++) whole.take(`10.${i}`);
    now += 1_000; // 'whole-soon' and the others are whole again, 'in-debt' is one short
    whole.take('newcomer');
    expect(whole.size).toBe(10_000);
    expect(whole.take('in-debt')).toBe(true);
    expect(whole.take('in-debt')).toBe(false);
  });
});
