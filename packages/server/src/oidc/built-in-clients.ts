/**
 * Clients Tessera registers itself at every start (bootstrap.ts): the
 * account pages and the admin console. They are first-party apps of the
 * platform, not of one tenant: the authorization request's `tenant`
 * parameter says whose users sign in (interaction/tenant.ts); without it,
 * the `default` tenant's.
 */
export const ACCOUNT_CLIENT_ID = 'tessera-account';
export const CONSOLE_CLIENT_ID = 'tessera-console';

export const BUILT_IN_CLIENT_IDS: readonly string[] = [ACCOUNT_CLIENT_ID, CONSOLE_CLIENT_ID];
