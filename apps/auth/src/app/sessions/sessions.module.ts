import { Module } from '@nestjs/common';

import { SessionRpcModule } from '@cloakroom/session/rpc';

import { SESSION_RPC_CAPABILITIES } from './session-rpc.capabilities';
import { SessionsController } from './sessions.controller';

/**
 * Session self-service over HTTP, and the session RPC (validate and patch by token, under the
 * capability table) for services that run `SessionModule` in remote mode.
 */
@Module({
  imports: [SessionRpcModule.register({ capabilities: SESSION_RPC_CAPABILITIES })],
  controllers: [SessionsController],
})
export class SessionsModule {}
