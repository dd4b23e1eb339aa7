/**
 * The store cannot run this operation here: `RemoteSessionStore` validates sessions by token and
 * patches the caller's own session, nothing else. Creating, rotating, listing and revoking
 * sessions, and changing roles, run in the auth service, in-process; its session RPC never
 * serves them. A programming error, not an outage: it is not a `SessionStoreUnavailableError`.
 *
 * @example
 * await sessions.listForUser(id); // in remote mode: rejects with SessionOperationNotServedError
 */
export class SessionOperationNotServedError extends Error {
  constructor(operation: string, reason = 'the auth service runs it in-process') {
    super(`RemoteSessionStore does not serve \`${operation}\`: ${reason}`);
    this.name = 'SessionOperationNotServedError';
  }
}
