/**
 * oidc/payload-finds.ts on every engine: the payload finds of one tick run as
 * one statement, and each caller gets exactly what a find of its own would
 * (missing, expired, consumed, the same artefact twice), or the statement's error.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';
import type { OidcPayloadStore } from '../src/oidc/payload-store.js';
import { MAX_FINDS_PER_STATEMENT } from '../src/oidc/payload-finds.js';

const KEY = 'payload-finds-test-key';

/** Counts the statements reading oidc_payloads; optionally fails each of them after it ran. */
class Statements implements KyselyPlugin {
  selects = 0;
  constructor(private readonly failure?: Error) {}
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === 'SelectQueryNode') this.selects++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.failure) throw this.failure;
    return args.result;
  }
}

for (const engine of ENGINES) {
  describe(`payload finds of one tick (${engine.name})`, () => {
    let t: TestStore;
    let payloads: OidcPayloadStore;

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      payloads = createOidcPayloadStore(t.store.db, KEY);
    });
    afterEach(async () => {
      await t?.dispose();
    });

    test('introspection\'s three lookups of one token are one statement; each gets its own model\'s answer', async () => {
      await payloads.upsert('AccessToken', 'tok', { jti: 'tok', grantId: 'g1', kind: 'AccessToken' }, 3600);
      await payloads.upsert('ClientCredentials', 'tok', { jti: 'tok', kind: 'ClientCredentials' }, 3600);
      await payloads.upsert('RefreshToken', 'tok', { jti: 'tok', grantId: 'g1', kind: 'RefreshToken' }, 3600);
      await payloads.upsert('Grant', 'g1', { accountId: 'u1' }, 3600);
      await payloads.consume('RefreshToken', 'tok');
      await t.store.db.updateTable('oidc_payloads').set({ expires_at: Date.now() - 1000 }).where('model', '=', 'ClientCredentials').execute();

      const counter = new Statements();
      const counted = createOidcPayloadStore(t.store.db.withPlugin(counter), KEY);
      const [at, cc, rt, grant, missing, again] = await Promise.all([
        counted.find('AccessToken', 'tok'), counted.find('ClientCredentials', 'tok'), counted.find('RefreshToken', 'tok'),
        counted.find('Grant', 'g1'), counted.find('Grant', 'other'), counted.find('AccessToken', 'tok'),
      ]);
      expect(counter.selects).toBe(1);
      expect(at).toEqual({ jti: 'tok', grantId: 'g1', kind: 'AccessToken' });
      expect(cc).toBeUndefined(); // expired
      expect(rt).toMatchObject({ jti: 'tok', kind: 'RefreshToken', consumed: expect.any(Number) });
      expect(grant).toEqual({ accountId: 'u1' });
      expect(missing).toBeUndefined();
      // The same artefact twice: equal, but each caller's own object (the engine may change what it gets).
      expect(again).toEqual(at);
      expect(again).not.toBe(at);

      // One after another: a statement each, as before.
      expect(await counted.find('AccessToken', 'tok')).toEqual(at);
      expect(await counted.find('Grant', 'g1')).toEqual(grant);
      expect(counter.selects).toBe(3);
    });

    test(`more than ${MAX_FINDS_PER_STATEMENT} in one tick take several statements, and every caller gets its row`, async () => {
      const n = MAX_FINDS_PER_STATEMENT + 3;
      await payloads.upsertMany(Array.from({ length: n }, (_, i) => ({ model: 'AccessToken', id: `t${i}`, payload: { jti: `t${i}`, i }, expiresIn: 600 })));
      const counter = new Statements();
      const counted = createOidcPayloadStore(t.store.db.withPlugin(counter), KEY);
      const found = await Promise.all(Array.from({ length: n }, (_, i) => counted.find('AccessToken', `t${i}`)));
      expect(found).toEqual(Array.from({ length: n }, (_, i) => ({ jti: `t${i}`, i })));
      expect(counter.selects).toBe(2);
    });

    test('a failed statement fails every find it carried, with its error', async () => {
      await payloads.upsert('AccessToken', 'tok', { jti: 'tok' }, 600);
      const failure = new Error('statement failed');
      const failing = createOidcPayloadStore(t.store.db.withPlugin(new Statements(failure)), KEY);
      const outcomes = await Promise.allSettled([
        failing.find('AccessToken', 'tok'), failing.find('ClientCredentials', 'tok'), failing.find('RefreshToken', 'tok'),
      ]);
      expect(outcomes).toEqual([1, 2, 3].map(() => ({ status: 'rejected', reason: failure })));
      // Nothing is left waiting: the next find is a statement of its own (and fails the same way).
      await expect(failing.find('AccessToken', 'tok')).rejects.toBe(failure);
    });

    test('inside a transaction the finds see its uncommitted rows', async () => {
      await t.store.db.transaction().execute(async (trx) => {
        const inTrx = payloads.withDb(trx);
        await inTrx.upsert('AccessToken', 'new', { jti: 'new' }, 600);
        const [a, b] = await Promise.all([inTrx.find('AccessToken', 'new'), inTrx.find('RefreshToken', 'new')]);
        expect(a).toEqual({ jti: 'new' });
        expect(b).toBeUndefined();
      });
    });
  });
}
