import { Controller, Get, INestApplication, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import type { App } from 'supertest/types';

import {
  CurrentUser,
  Roles,
  SessionGuard,
  SessionModule,
  SessionOperationNotServedError,
  SessionService,
  SessionUser,
} from '@cloakroom/session';

import {
  AuthApp,
  createUser,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
} from './auth-app';

@Controller()
class ProbeController {
  @Get('me')
  me(@CurrentUser() user: SessionUser): SessionUser {
    return user;
  }

  @Roles('admin')
  @Get('admin-only')
  adminOnly(): { ok: true } {
    return { ok: true };
  }
}

describe('a service in remote mode, validating through auth over TCP', () => {
  let auth: AuthApp;
  let service: INestApplication;
  let serviceHttp: App;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('remote');
    adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;

    @Module({
      imports: [
        SessionModule.forRoot({
          remote: {
            host: '127.0.0.1',
            port: auth.rpcPort,
            tls: auth.certificates.remoteTls('catalog'),
          },
          allowedOrigins: [ORIGIN],
        }),
      ],
      controllers: [ProbeController],
      providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
    })
    class RemoteServiceModule {}

    const moduleRef = await Test.createTestingModule({ imports: [RemoteServiceModule] }).compile();
    service = moduleRef.createNestApplication({ logger: ['error'] });
    await service.init();
    serviceHttp = service.getHttpServer();
  });

  afterAll(async () => {
    await service?.close();
    await auth?.close();
  });

  it('sees a session issued by auth, and not after logout', async () => {
    const user = await createUser(auth.http, adminCookie);
    const { token } = await loginWithBearer(auth.http, user.username, user.password);
    const me = await request(serviceHttp)
      .get('/me')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(me.body).toEqual({ id: user.id, username: user.username, roles: ['customer'] });

    await request(auth.http)
      .post('/api/auth/logout')
      .set('Authorization', `Bearer ${token}`)
      .expect(204);
    await request(serviceHttp).get('/me').set('Authorization', `Bearer ${token}`).expect(401);
  });

  it('sees a role change on the next request', async () => {
    const user = await createUser(auth.http, adminCookie);
    const { token } = await loginWithBearer(auth.http, user.username, user.password);
    await request(serviceHttp)
      .get('/admin-only')
      .set('Authorization', `Bearer ${token}`)
      .expect(403);
    await request(auth.http)
      .put(`/api/auth/users/${user.id}/roles`)
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ roles: ['admin'] })
      .expect(200);
    await request(serviceHttp)
      .get('/admin-only')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
  });

  it('is refused, with a clear error, what catalog may not do', async () => {
    const user = await createUser(auth.http, adminCookie);
    const { token } = await loginWithBearer(auth.http, user.username, user.password);
    const sessions = service.get(SessionService);
    await expect(sessions.patch(token, { admin: true })).rejects.toThrow(
      new SessionOperationNotServedError('session.patch', 'refused: may not call patch'),
    );
    await expect(sessions.listForUser(user.id)).rejects.toBeInstanceOf(
      SessionOperationNotServedError,
    );
    expect(await sessions.validate(token)).toMatchObject({ userId: user.id, attributes: {} });
  });

  it('refuses a malformed or unknown token', async () => {
    await request(serviceHttp).get('/me').set('Authorization', 'Bearer nope').expect(401);
    await request(serviceHttp)
      .get('/me')
      .set('Authorization', `Bearer cr1.AAAAAAAA.${'A'.repeat(43)}`)
      .expect(401);
  });
});
