import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { OidcPayloadStore } from './payload-store.js';
import Provider from 'oidc-provider';
import { FOUND_WITH_GRANT, prefetchedAccount, prefetchedGrant } from './payload-store.js';
import { forgetGrant, keepGrant, takeGrant } from './grant-prefetch.js';
import { keepAccount } from './account-prefetch.js';
import type { ClientRecord, ClientRepository } from './repository.js';
import { toEngineClientMetadata } from './clients.js';
import { isStorableText } from '../storage/text.js';
import { flushHeld, heldPayload, hold } from './write-batch.js';

/**
 * Builds the oidc-provider adapter factory over Tessera's store. Clients come
 * from the clients table (managed by config/CLI/admin, never by the engine);
 * every other model lives in the payload table.
 */
export function createAdapterFactory(store: OidcPayloadStore, clients: ClientRepository): (name: string) => Adapter {
  return (name: string) => (name === 'Client' ? clientAdapter(clients) : payloadAdapter(name, store));
}

/**
 * The engine routes that read a found token's user next (UserInfo; the token
 * endpoint's refresh and code exchange): their token finds bring the user
 * along (account-prefetch.ts). Introspection and revocation do not read it.
 */
const READS_ACCOUNT: ReadonlySet<string> = new Set(['userinfo', 'token']);

function payloadAdapter(model: string, store: OidcPayloadStore): Adapter {
  const withGrant = FOUND_WITH_GRANT.has(model);
  // A token request's saves are held and written together at its end (write-batch.ts); any other write
  // first writes what is held, so the store sees them in the engine's order.
  const flushed = async <T>(write: () => Promise<T>): Promise<T> => {
    await flushHeld(store);
    return write();
  };
  const adapter: Adapter & { consumeOnce(id: string): Promise<boolean>; insertOnce(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> } = {
    upsert: async (id, payload, expiresIn) => {
      if (model === 'Grant') forgetGrant(id);
      if (!hold({ model, id, payload: payload as Record<string, unknown>, expiresIn })) await store.upsert(model, id, payload as Record<string, unknown>, expiresIn);
    },
    // Lookup keys come straight from requests (tokens, codes, cookies): one no row can hold is simply not found.
    find: async (id) => {
      if (!isStorableText(id)) return undefined;
      const held = heldPayload(model, id) ?? (model === 'Grant' ? takeGrant(id) : undefined);
      if (held) return held as AdapterPayload;
      const route = withGrant ? (Provider.ctx as { oidc?: { route?: string } } | undefined)?.oidc?.route : undefined;
      const payload = await store.find(model, id, route && READS_ACCOUNT.has(route) ? { withAccount: true } : undefined);
      if (withGrant) {
        // A token's grant and user, read in the same statement: this request's lookups of them are answered with them.
        const grant = prefetchedGrant(payload);
        if (grant) keepGrant(grant);
        const account = prefetchedAccount(payload);
        if (account) keepAccount(account);
      }
      return payload as AdapterPayload | undefined;
    },
    findByUid: async (uid) => (isStorableText(uid) ? (await store.findByUid(model, uid)) as AdapterPayload | undefined : undefined),
    findByUserCode: async (code) => (isStorableText(code) ? (await store.findByUserCode(model, code)) as AdapterPayload | undefined : undefined),
    consume: (id) => flushed(() => store.consume(model, id)),
    // Not part of the engine's Adapter: the refresh policy's atomic claim (refresh-policy.ts).
    consumeOnce: (id: string) => flushed(() => store.consumeOnce(model, id)),
    // Not part of the engine's Adapter either: the DPoP replay cache's atomic insert (provider.ts).
    insertOnce: (id: string, payload: AdapterPayload, expiresIn: number) => flushed(() => store.insertOnce(model, id, payload as Record<string, unknown>, expiresIn)),
    destroy: (id) => {
      if (model === 'Grant') forgetGrant(id);
      return flushed(() => store.destroy(model, id));
    },
    revokeByGrantId: (grantId) => flushed(() => store.revokeByGrantId(grantId)),
  };
  return adapter;
}

function clientAdapter(clients: ClientRepository): Adapter {
  const readOnly = async () => {
    throw new Error('clients are managed by Tessera, not by the protocol engine');
  };
  // The engine reads a client several times per request and the repository serves the same record
  // object while it is cached (withClientCache), so its conversion is kept with it: a write or a
  // change notification replaces the record, and the entry goes with the old object. Only a
  // rotated secret's overlap window depends on the time: the entry lasts until it ends.
  const converted = new WeakMap<ClientRecord, { metadata: Record<string, unknown>; until: number }>();
  const metadataOf = (record: ClientRecord): AdapterPayload => {
    const now = Date.now();
    let hit = converted.get(record);
    if (!hit || hit.until <= now) {
      const ends = record.previousSecret?.expiresAt;
      hit = { metadata: toEngineClientMetadata(record), until: ends !== undefined && ends > now ? ends : Infinity };
      converted.set(record, hit);
    }
    // A copy: what the engine receives is its own to change.
    return { ...hit.metadata } as AdapterPayload;
  };
  return {
    find: async (id) => {
      if (!isStorableText(id)) return undefined; // a client_id from the request that no row can hold
      const record = await clients.find(id);
      return record ? metadataOf(record) : undefined;
    },
    upsert: readOnly,
    destroy: readOnly,
    consume: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    revokeByGrantId: async () => {},
  };
}
