import type { SessionConfig } from '../config/session.config';

const remoteConfig = {
  backend: {
    kind: 'remote',
    connection: { host: '127.0.0.1', port: 1, tls: { ca: 'ca', cert: 'cert', key: 'key' } },
  },
} as unknown as SessionConfig;

describe('createSessionStore in remote mode', () => {
  afterEach(() => {
    jest.resetModules();
    jest.dontMock('./remote/remote-session.store');
  });

  it('says which package to install when @nestjs/microservices is missing', () => {
    jest.doMock('./remote/remote-session.store', () => {
      throw Object.assign(new Error("Cannot find module '@nestjs/microservices'"), {
        code: 'MODULE_NOT_FOUND',
      });
    });
    // Loaded after the mock: the factory must not have loaded the remote store before.
    const { createSessionStore } = jest.requireActual<typeof import('./session-store.factory')>(
      './session-store.factory',
    );
    expect(() => createSessionStore(remoteConfig)).toThrow(
      'SessionModule: `remote` needs @nestjs/microservices (npm install @nestjs/microservices)',
    );
  });

  it('passes any other failure of the remote store on as it is', () => {
    jest.doMock('./remote/remote-session.store', () => {
      throw new Error('broken');
    });
    const { createSessionStore } = jest.requireActual<typeof import('./session-store.factory')>(
      './session-store.factory',
    );
    expect(() => createSessionStore(remoteConfig)).toThrow('broken');
  });
});
