import Provider from 'oidc-provider';
import type { PrefetchedGrant } from './payload-store.js';
import { keptPerRequest } from './kept-per-request.js';

type Payload = Record<string, unknown>;

/**
 * Grants read together with a token (payload-store.ts, `FOUND_WITH_GRANT`),
 * kept for the rest of the engine request that read them and handed to
 * that request's next lookup of the grant (issue 20: UserInfo,
 * introspection, a refresh and a code exchange each look the token up and
 * then its grant: one statement instead of two).
 *
 * Why this is exact: the grant is what the database held when the token was
 * read, in the same statement, and only the request that read it is given
 * it, once. A write of the grant in that request (save, destroy) drops it,
 * so a later lookup reads the store as before. Outside an engine request
 * (no `Provider.ctx`) nothing is kept.
 */
const grants = keptPerRequest<Payload>();

/** Keeps a grant read with a token for this request's lookup of it. */
export function keepGrant(grant: PrefetchedGrant): void {
  grants.keep(Provider.ctx as object | undefined, grant.id, grant.payload);
}

/** The grant kept for this request, given once; undefined when none is kept (read the store). */
export function takeGrant(id: string): Payload | undefined {
  return grants.take(Provider.ctx as object | undefined, id)?.value;
}

/** Drops a kept grant: this request writes it. */
export function forgetGrant(id: string): void {
  grants.forget(Provider.ctx as object | undefined, id);
}
