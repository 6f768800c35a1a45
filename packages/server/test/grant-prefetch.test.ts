/**
 * oidc/grant-prefetch.ts through the engine adapter: a grant read with a
 * token answers the same request's next lookup of that grant (no statement),
 * once; other requests, writes of the grant and lookups outside a request
 * read the store as before.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Adapter } from 'oidc-provider';
// The engine's request context (Provider.ctx reads it): entered here as the engine enters it per request.
import als from 'oidc-provider/lib/helpers/als.js';
import { ENGINES } from './helpers/engines.js';
import { SelectCounter } from './helpers/select-counter.js';
import type { TestStore } from './helpers/app.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';
import { createAdapterFactory } from '../src/oidc/adapter.js';
import type { ClientRepository } from '../src/oidc/repository.js';

/** Runs `fn` as one engine request would (a context of its own, not a token route: writes are not held). */
const inRequest = <T>(fn: () => Promise<T>): Promise<T> => als.run({ oidc: { route: 'userinfo' } }, fn) as Promise<T>;

for (const engine of ENGINES) {
  describe(`a token's grant read with it (${engine.name})`, () => {
    let t: TestStore;
    let selects: SelectCounter;
    let adapter: (model: string) => Adapter;

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      selects = new SelectCounter();
      const store = createOidcPayloadStore(t.store.db.withPlugin(selects), 'grant-prefetch-test-key');
      adapter = createAdapterFactory(store, {} as ClientRepository);
      await adapter('Grant').upsert('g1', { jti: 'g1', accountId: 'u1', kind: 'Grant' }, 3600);
      await adapter('AccessToken').upsert('at', { jti: 'at', grantId: 'g1', kind: 'AccessToken' }, 600);
      selects.n = 0;
    });
    afterEach(async () => {
      await t?.dispose();
    });

    test('the request that read the token gets the grant without a statement, once', async () => {
      await inRequest(async () => {
        expect(await adapter('AccessToken').find('at')).toMatchObject({ grantId: 'g1' });
        expect(selects.n).toBe(1);
        expect(await adapter('Grant').find('g1')).toEqual({ jti: 'g1', accountId: 'u1', kind: 'Grant' });
        expect(selects.n).toBe(1);
        // Given once: a second lookup reads the store.
        expect(await adapter('Grant').find('g1')).toEqual({ jti: 'g1', accountId: 'u1', kind: 'Grant' });
        expect(selects.n).toBe(2);
      });
    });

    test('another request, and a lookup outside any request, read the store', async () => {
      await inRequest(() => adapter('AccessToken').find('at'));
      await inRequest(async () => {
        await adapter('Grant').find('g1');
      });
      expect(selects.n).toBe(2);
      await adapter('AccessToken').find('at');
      expect(await adapter('Grant').find('g1')).toMatchObject({ accountId: 'u1' });
      expect(selects.n).toBe(4);
    });

    test('a write of the grant in the request drops what was read with the token', async () => {
      await inRequest(async () => {
        await adapter('AccessToken').find('at');
        await adapter('Grant').upsert('g1', { jti: 'g1', accountId: 'u1', kind: 'Grant', changed: true }, 3600);
        expect(await adapter('Grant').find('g1')).toMatchObject({ changed: true });
      });
      await inRequest(async () => {
        await adapter('AccessToken').find('at');
        await adapter('Grant').destroy('g1');
        expect(await adapter('Grant').find('g1')).toBeUndefined();
      });
    });
  });
}
