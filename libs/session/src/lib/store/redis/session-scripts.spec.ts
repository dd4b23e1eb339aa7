import { createHash } from 'node:crypto';

import { PREVIOUS_SCRIPTS } from './session-scripts';

describe('PREVIOUS_SCRIPTS', () => {
  it('keeps the SHA each earlier release calls validate.lua by', () => {
    const shas = PREVIOUS_SCRIPTS.map((lua) => createHash('sha1').update(lua).digest('hex'));
    // Those releases send these: a change to the field table, the prelude or the files would
    // leave their services refused (NOSCRIPT) after a Redis restart during a rolling deploy.
    expect(shas).toEqual([
      '52dd008e0ec059ecc4d81656a81eb0d6a6d0a7b9',
      '037582d776afd519bf36db67fc19ec79db2d5291',
      '04a866f4230d0a80901e8445cf68d4965d175038',
    ]);
  });
});
