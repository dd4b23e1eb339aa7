import { Controller, ExecutionContext, Get } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { InMemorySessionStore } from '../testing/in-memory-session.store';
import { Public } from './public.decorator';
import { Roles } from './roles.decorator';
import { SessionStore } from './session-store.interface';
import { SessionGuard } from './session.guard';
import { SessionModule } from './session.module';
import { SessionService } from './session.service';

@Roles('customer')
@Controller()
class FixtureController {
  @Get()
  inherited() {
    return 'inherited';
  }

  @Roles('admin')
  @Get()
  overridden() {
    return 'overridden';
  }

  @Public()
  @Get()
  open() {
    return 'open';
  }
}

function httpContext(handler: keyof FixtureController, headers: Record<string, string>) {
  const request: Record<string, unknown> = { method: 'GET', headers };
  const context = {
    getType: () => 'http',
    getHandler: () => FixtureController.prototype[handler],
    getClass: () => FixtureController,
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
  return { context, request };
}

describe('SessionGuard', () => {
  let guard: SessionGuard;
  let sessions: SessionService;
  let store: InMemorySessionStore;

  beforeEach(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ redis: { url: 'redis://unused' } })],
    })
      .overrideProvider(SessionStore)
      .useClass(InMemorySessionStore)
      .compile();
    guard = moduleRef.get(SessionGuard);
    sessions = moduleRef.get(SessionService);
    store = moduleRef.get(SessionStore);
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('denies by default: no token is 401', async () => {
    await expect(guard.canActivate(httpContext('inherited', {}).context)).rejects.toMatchObject({
      status: 401,
    });
  });

  it('lets @Public() routes through without looking at the store', async () => {
    store.failing = true;
    await expect(guard.canActivate(httpContext('open', {}).context)).resolves.toBe(true);
  });

  it('accepts the bearer scheme in any case', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    for (const scheme of ['bearer', 'BEARER']) {
      const { context } = httpContext('inherited', { authorization: `${scheme} ${token}` });
      await expect(guard.canActivate(context)).resolves.toBe(true);
    }
  });

  it('puts the validated session on the request', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    const { context, request } = httpContext('inherited', bearer(token));
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(request['session']).toMatchObject({ userId: '1', username: 'alice' });
  });

  it('applies the controller’s roles, and a handler’s roles override them', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    await expect(guard.canActivate(httpContext('inherited', bearer(token)).context)).resolves.toBe(
      true,
    );
    await expect(
      guard.canActivate(httpContext('overridden', bearer(token)).context),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('turns a store failure into 503, never a pass', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    store.failing = true;
    await expect(
      guard.canActivate(httpContext('inherited', bearer(token)).context),
    ).rejects.toMatchObject({ status: 503 });
  });

  it('denies non-HTTP contexts unless the handler is public', async () => {
    const context = {
      ...httpContext('inherited', {}).context,
      getType: () => 'rpc',
      getHandler: () => FixtureController.prototype.inherited,
      getClass: () => FixtureController,
    } as unknown as ExecutionContext;
    await expect(guard.canActivate(context)).resolves.toBe(false);
  });
});
