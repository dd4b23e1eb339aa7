import { Module } from '@nestjs/common';

import { SessionRpcController } from '@cloakroom/session';

import { SessionEventsModule } from './session-events.module';
import { SessionsController } from './sessions.controller';

/**
 * Session self-service over HTTP, and the session store over TCP for services that run
 * `SessionModule` in remote mode.
 */
@Module({
  imports: [SessionEventsModule],
  controllers: [SessionsController, SessionRpcController],
})
export class SessionsModule {}
