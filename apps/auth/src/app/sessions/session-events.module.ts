import { Module } from '@nestjs/common';
import { ClientsModule, Transport } from '@nestjs/microservices';

import { AuthConfig } from '../config/auth.config';
import { SESSION_EVENTS_CLIENT, SessionEventsPublisher } from './session-events.publisher';

@Module({
  imports: [
    ClientsModule.registerAsync([
      {
        name: SESSION_EVENTS_CLIENT,
        inject: [AuthConfig],
        useFactory: (config: AuthConfig) => ({
          transport: Transport.REDIS,
          options: {
            ...config.redisPublisher,
            // Without these the client gives up for good after its first disconnection.
            retryAttempts: Number.MAX_SAFE_INTEGER,
            retryDelay: 1000,
            // Events are advisory: never pile them up while Redis is away.
            enableOfflineQueue: false,
          },
        }),
      },
    ]),
  ],
  providers: [SessionEventsPublisher],
  exports: [SessionEventsPublisher],
})
export class SessionEventsModule {}
