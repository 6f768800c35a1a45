import Provider from 'oidc-provider';
import type { PrefetchedAccount } from './payload-store.js';
import { keptPerRequest } from './kept-per-request.js';

/**
 * Users read together with a token (payload-store.ts, `prefetchedAccount`),
 * kept for the rest of the engine request that read them and handed to that
 * request's first read of the user (account.ts, `userInRequest`). UserInfo,
 * a refresh and a code exchange each look the token up and then its user:
 * one statement instead of two (issue 20).
 *
 * Exact as the grant's prefetch is (grant-prefetch.ts): the user is what the
 * database held when the token was read, in the same statement, and only
 * the request that read it is given it, once; `userInRequest` already reads
 * a user once per request. Outside an engine request nothing is kept.
 */
const accounts = keptPerRequest<unknown>();

/** Keeps the user read with a token for this request's read of it. */
export function keepAccount(account: PrefetchedAccount): void {
  accounts.keep(Provider.ctx as object | undefined, account.accountId, account.rows);
}

/**
 * The user kept for this request's context, given once, as
 * `userFromJoinedJson` takes it; undefined when none is kept (read the store).
 */
export function takeAccount(ctx: object, accountId: string): { rows: unknown } | undefined {
  const kept = accounts.take(ctx, accountId);
  return kept && { rows: kept.value };
}
