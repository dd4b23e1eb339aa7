import { Redis } from 'ioredis';
import request from 'supertest';

import {
  RedisClusterProcess,
  startRedisCluster,
  startTcpRelay,
  TcpRelay,
} from '@cloakroom/session/testing';

import { AuthApp, loginWithBearer, startAuthApp } from './auth-app';

/**
 * On Redis Cluster, the connection to the user's node breaks after Redis ran the rotation of a
 * re-authentication, before its answer arrived. The outcome is unknown: the answer must be a
 * 503, after which the session is back under the token its holder presents — never the answer
 * of the rotation sent again, which finds the old session gone: a 401 with the old token dead
 * and the session living on under a token nobody was given.
 */
describe('auth on Redis Cluster, a rotation whose answer is lost with its connection', () => {
  let cluster: RedisClusterProcess;
  let relays: TcpRelay[];
  let auth: AuthApp;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    relays = await Promise.all(cluster.nodes.map((node) => startTcpRelay(node.port)));
    // Each node announces its relay's port: every client of the cluster goes through a relay.
    const nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
    try {
      await Promise.all(
        nodes.map((node, i) => node.config('SET', 'cluster-announce-port', String(relays[i].port))),
      );
      const relayPorts = relays.map((relay) => relay.port).sort();
      const announced = async (node: Redis) => {
        const slots = await node.cluster('SLOTS');
        return slots.map(([, , [, port]]) => port).sort();
      };
      const deadline = Date.now() + 20_000;
      for (const node of nodes) {
        while ((await announced(node)).join() !== relayPorts.join()) {
          if (Date.now() > deadline) throw new Error('the relays were never announced');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      for (const node of nodes) node.disconnect();
    }
    auth = await startAuthApp('cluster-lost-answer', {
      REDIS_CLUSTER_NODES: relays.map((relay) => `127.0.0.1:${relay.port}`).join(','),
      SESSION_STORE_TIMEOUT: '2',
    });
  }, 60_000);

  afterAll(async () => {
    await auth?.close();
    await Promise.all((relays ?? []).map((relay) => relay.sever()));
    await cluster?.dispose();
  });

  it('answers 503 to a re-authentication, and the session keeps its token', async () => {
    const { token } = await loginWithBearer(auth.http, 'bob', 'bob-password');
    const bearer = `Bearer ${token}`;
    const [before] = (
      await request(auth.http).get('/api/auth/sessions').set('Authorization', bearer).expect(200)
    ).body;
    // Only rotate.lua sends the forward prefix (`{tag}:m:`) in a re-authentication.
    const rotation = (data: Buffer) => data.toString('latin1').includes('}:m:');
    for (const relay of relays) relay.loseAnswer({ request: rotation });
    const answer = await request(auth.http)
      .post('/api/auth/reauthenticate')
      .set('Authorization', bearer)
      .send({ password: 'bob-password' });
    for (const relay of relays) relay.loseAnswer(null);
    expect(relays.reduce((sum, relay) => sum + relay.lost, 0)).toBe(1);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 503,
      body: expect.objectContaining({ statusCode: 503 }),
    });
    // The store's undo puts the session back under the token bob still holds.
    const deadline = Date.now() + 8000;
    while (
      (await request(auth.http).get('/api/auth/session').set('Authorization', bearer)).status !==
      200
    ) {
      if (Date.now() > deadline) throw new Error('the session never came back to its token');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const after = await request(auth.http)
      .get('/api/auth/sessions')
      .set('Authorization', bearer)
      .expect(200);
    expect(after.body).toEqual([expect.objectContaining({ id: before.id, current: true })]);
  }, 30_000);
});
