/**
 * The body of an action that takes none: with the service's whitelisting validation, any field
 * is refused with 400, so a caller who believes the action takes an option (an exception, a
 * user) learns it does not before anything happens.
 */
export class NoBodyDto {}
