import { eventually } from './eventually';

describe('eventually', () => {
  it('resolves once the check holds, asking again meanwhile', async () => {
    let asked = 0;
    await expect(eventually(async () => ++asked === 3)).resolves.toBeUndefined();
    expect(asked).toBe(3);
  });

  it('fails once the time is up with the check still false', async () => {
    await expect(eventually(() => false, 100)).rejects.toThrow('condition not met in time');
  });
});
