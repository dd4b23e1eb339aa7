import { freePort } from '@cloakroom/session/testing';

import { BARE_SERVERS, listenBare } from './bare-server';

describe('bare servers', () => {
  // The comparison is fair only if every server answers the runner's request alike.
  it.each(BARE_SERVERS)('%s answers GET /bench with {"ok":true} as JSON', async (server) => {
    const port = await freePort();
    const close = await listenBare(server, port);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/bench`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.text()).toBe('{"ok":true}');
      expect((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status).toBe(404);
    } finally {
      await close();
    }
  });
});
