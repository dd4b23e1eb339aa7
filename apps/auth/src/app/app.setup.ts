import { INestApplication } from '@nestjs/common';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

import { SessionCookieService } from '@cloakroom/session';

import { AuthConfig } from './config/auth.config';

export const GLOBAL_PREFIX = 'api/auth';

/** Login bodies are tiny: anything bigger is refused before it is parsed (413). */
const BODY_LIMIT = '16kb';

/**
 * Everything about the app that is not a module: shared by main.ts and the e2e tests so both
 * run the same HTTP stack.
 */
export function setupApp(app: NestExpressApplication): NestExpressApplication {
  const config = app.get(AuthConfig);
  app.setGlobalPrefix(GLOBAL_PREFIX);
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.useBodyParser('json', { limit: BODY_LIMIT });
  app.useBodyParser('urlencoded', { limit: BODY_LIMIT, extended: false });
  app.connectMicroservice<MicroserviceOptions>({
    transport: Transport.TCP,
    options: { host: config.get('AUTH_RPC_LISTEN_HOST'), port: config.get('AUTH_RPC_PORT') },
  });
  setupOpenApi(app);
  return app;
}

function setupOpenApi(app: INestApplication): void {
  const cookieName = app.get(SessionCookieService).name;
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Cloakroom auth')
      .setDescription(
        'Login, logout, session self-service, users and roles. Sessions are opaque tokens in ' +
          'an HttpOnly cookie, or bearer tokens for clients that are not browsers.',
      )
      .setVersion('1.0')
      .addCookieAuth(cookieName)
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup(`${GLOBAL_PREFIX}/docs`, app, document);
}
