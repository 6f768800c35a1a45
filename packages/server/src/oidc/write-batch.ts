import Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { OidcPayloadStore, PayloadWrite } from './payload-store.js';
import { onEnginePath, underEnginePath } from './engine-paths.js';

/**
 * The token endpoint's writes of one request, held and written together
 * (issue 20). A refresh with rotation saves a new refresh token, the
 * grace-period link (refresh-policy.ts) and an access token: three
 * statements, and on PostgreSQL three commits, one after another. Held
 * here until the engine has built its answer, they go to the store as one
 * multi-row upsert (`OidcPayloadStore.upsertMany`): one statement, one
 * commit, all or nothing, before the answer leaves.
 *
 * What stays immediate: the atomic claim of a rotated refresh token
 * (`consumeOnce`) and every other write (consume, destroy, revocation):
 * each of those first writes what is held, so the store sees the request's
 * writes in the order the engine made them. A lookup of a held artefact in
 * the same request is answered from the batch.
 */
export const BATCHED_MODELS: ReadonlySet<string> = new Set(['AccessToken', 'RefreshToken', 'RefreshRotation', 'ClientCredentials', 'Grant', 'AuthorizationCode', 'Session']);
/**
 * The engine routes whose saves are held: the token endpoint, and the return
 * from a sign-in (`resume`), which saves the grant, the code and the session.
 */
export const BATCHED_ROUTES: ReadonlySet<string> = new Set(['token', 'resume']);

/** A request's held writes, and the write of them under way (concurrent callers wait for it, e.g. the engine's parallel revocations). */
interface Batch { writes: Map<string, PayloadWrite>; writing?: Promise<void> | undefined }
const held = new WeakMap<object, Batch>();
const keyOf = (model: string, id: string) => `${model}\u0000${id}`;

function tokenRequest(): object | undefined {
  const ctx = Provider.ctx as KoaContextWithOIDC | undefined;
  const route = ctx?.oidc?.route;
  return route && BATCHED_ROUTES.has(route) ? ctx : undefined;
}

/** Holds the write when it is one of a token request's; false when the caller must write it now. */
export function hold(write: PayloadWrite): boolean {
  if (!BATCHED_MODELS.has(write.model)) return false;
  const ctx = tokenRequest();
  if (!ctx) return false;
  let batch = held.get(ctx);
  if (!batch) held.set(ctx, (batch = { writes: new Map() }));
  const { writes } = batch;
  // A second save of the same artefact replaces the first (one row per model and id in the statement).
  writes.delete(keyOf(write.model, write.id));
  writes.set(keyOf(write.model, write.id), { ...write, payload: structuredClone(write.payload) });
  return true;
}

/** A held artefact of this request (a copy, as a read from the store would be), or undefined. */
export function heldPayload(model: string, id: string): Record<string, unknown> | undefined {
  const ctx = tokenRequest();
  const write = ctx && held.get(ctx)?.writes.get(keyOf(model, id));
  return write && structuredClone(write.payload);
}

/** Writes what this request holds, if anything (before any other write, and at the end of the request). */
export async function flushHeld(store: OidcPayloadStore, ctx: object | undefined = tokenRequest()): Promise<void> {
  const batch = ctx && held.get(ctx);
  if (!batch) return;
  // Whoever comes while the held writes are being written waits for them: a revocation must not run first.
  if (batch.writing) await batch.writing;
  if (!batch.writes.size) return;
  const writes = [...batch.writes.values()];
  batch.writes = new Map();
  batch.writing = store.upsertMany(writes).finally(() => {
    batch.writing = undefined;
  });
  await batch.writing;
}

/**
 * The middleware that writes a token request's held writes once the engine
 * has answered, before the answer is sent. Registered inside
 * `installUnavailableAnswers` (unavailable.ts): a failed write is reported as
 * the engine reports its own (`server_error` event; 500 `server_error` as JSON
 * at the token endpoint, the error page at the resume; a database outage
 * becomes 503 there), never a token or code the store did not keep.
 */
export function installWriteBatch(
  provider: Provider, store: OidcPayloadStore, paths: { token: string; resumePrefix: string },
  page: (ctx: KoaContextWithOIDC, out: Record<string, string>) => string,
): void {
  // Only the BATCHED_ROUTES hold writes: requests for other paths are handed on without an async frame (engine-paths.ts).
  provider.use((ctx, next) => (onEnginePath(ctx.path, paths.token) || underEnginePath(ctx.path, paths.resumePrefix) ? writeHeld(ctx, next) : next()));

  async function writeHeld(ctx: Parameters<Parameters<Provider['use']>[0]>[0], next: () => Promise<unknown>): Promise<void> {
    try {
      await next();
    } catch (err) {
      await flushHeld(store, ctx);
      throw err;
    }
    try {
      await flushHeld(store, ctx);
    } catch (err) {
      const out = { error: 'server_error', error_description: 'oops! something went wrong' };
      ctx.status = 500;
      // The resume is a browser's request (the engine was about to redirect it to the client): the error page, as
      // the engine answers its own server errors there; unavailable.ts turns it into the 503 page for an outage.
      if (onEnginePath(ctx.path, paths.token)) ctx.body = out;
      else {
        ctx.remove('location');
        ctx.type = 'html';
        ctx.body = page(ctx as unknown as KoaContextWithOIDC, out);
      }
      provider.emit('server_error', ctx, err);
    }
  }
}
