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
