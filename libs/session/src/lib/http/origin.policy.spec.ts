import { resolveSessionConfig } from '../config/session.config';
import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { OriginPolicy } from './origin.policy';

describe('OriginPolicy', () => {
  const allowed = 'https://shop.example';
  const policy = new OriginPolicy(
    resolveSessionConfig({ store: new InMemorySessionStore(), allowedOrigins: [allowed] }),
  );
  const upgrade = { connection: 'Upgrade', upgrade: 'websocket' };

  it('judges a WebSocket upgrade by its Origin, not by its method', () => {
    for (const headers of [
      upgrade,
      { ...upgrade, origin: 'https://other.example' },
      { ...upgrade, origin: 'null' },
      { ...upgrade, upgrade: 'WebSocket', origin: 'https://other.example' },
      // The browser's word for the app's own page does not stand in for an allowed Origin here.
      { ...upgrade, 'sec-fetch-site': 'same-origin' },
    ]) {
      expect({ headers, allowed: policy.allows({ method: 'GET', headers }) }).toEqual({
        headers,
        allowed: false,
      });
    }
    expect(policy.allows({ method: 'GET', headers: { ...upgrade, origin: allowed } })).toBe(true);
  });

  it('lets safe methods through and holds every other one to the rule', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      expect(policy.allows({ method, headers: { origin: 'https://other.example' } })).toBe(true);
    }
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'get']) {
      expect(policy.allows({ method, headers: { origin: 'https://other.example' } })).toBe(false);
      expect(policy.allows({ method, headers: { origin: allowed } })).toBe(true);
    }
  });
});
