import { INestApplication } from '@nestjs/common';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

import { ServiceDefinition } from '@cloakroom/service-kit';
import { SessionCookieService } from '@cloakroom/session';

import { AuthErrorFilter } from './common/auth-error.filter';
import { AuthConfig } from './config/auth.config';

/** Login bodies are tiny: anything bigger is refused before it is parsed (413). */
const BODY_LIMIT = '16kb';

/**
 * What makes auth more than the common service: its 429 filter, body limits, the TCP session
 * RPC and the OpenAPI document. Used by main.ts and the in-process tests alike.
 */
export const authService: ServiceDefinition<NestExpressApplication> = {
  name: 'auth',
  errorFilter: AuthErrorFilter,
  configure: (app) => {
    const config = app.get(AuthConfig);
    app.set('trust proxy', config.trustProxy);
    app.disable('x-powered-by');
    app.useBodyParser('json', { limit: BODY_LIMIT });
    app.useBodyParser('urlencoded', { limit: BODY_LIMIT, extended: false });
    // The RPC gets the HTTP side's validation pipe and error filter.
    app.connectMicroservice<MicroserviceOptions>(
      {
        transport: Transport.TCP,
        options: { host: config.get('AUTH_RPC_LISTEN_HOST'), port: config.get('AUTH_RPC_PORT') },
      },
      { inheritAppConfig: true },
    );
    setupOpenApi(app);
  },
};

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
  SwaggerModule.setup('api/auth/docs', app, document);
}
