/**
 * oidc/payload-finds.ts on every engine: the payload finds of one tick run as
 * one statement, and each caller gets exactly what a find of its own would
 * (missing, expired, consumed, the same artefact twice), or the statement's error.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { createOidcPayloadStore, prefetchedGrant } from '../src/oidc/payload-store.js';
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
    test('a token\'s find reads the grant its row names in the same statement; nothing else comes along', async () => {
      await payloads.upsert('Grant', 'g1', { jti: 'g1', accountId: 'u1', kind: 'Grant' }, 3600);
      await payloads.upsert('AccessToken', 'at', { jti: 'at', grantId: 'g1', kind: 'AccessToken' }, 600);
      await payloads.upsert('RefreshToken', 'rt', { jti: 'rt', grantId: 'g1', kind: 'RefreshToken' }, 3600);
      await payloads.consume('RefreshToken', 'rt');
      await payloads.upsert('Session', 's', { jti: 's', uid: 'u', grantId: 'g1', kind: 'Session' }, 600);
      const counter = new Statements();
      const counted = createOidcPayloadStore(t.store.db.withPlugin(counter), KEY);

      const at = await counted.find('AccessToken', 'at');
      expect(counter.selects).toBe(1);
      expect(prefetchedGrant(at)).toEqual({ id: 'g1', payload: { jti: 'g1', accountId: 'u1', kind: 'Grant' } });
      expect(prefetchedGrant(at)!.payload).toEqual(await payloads.find('Grant', 'g1'));
      // A consumed token (a refresh's reuse detection reads its grant too).
      const rt = await counted.find('RefreshToken', 'rt');
      expect(rt).toMatchObject({ consumed: expect.any(Number) });
      expect(prefetchedGrant(rt)?.id).toBe('g1');
      // A model the engine does not follow to its grant.
      expect(prefetchedGrant(await counted.find('Session', 's'))).toBeUndefined();
      // Introspection's three lookups and their grant: still one statement.
      counter.selects = 0;
      const [a, c, r] = await Promise.all([counted.find('AccessToken', 'at'), counted.find('ClientCredentials', 'at'), counted.find('RefreshToken', 'at')]);
      expect(counter.selects).toBe(1);
      expect(prefetchedGrant(a)?.payload).toMatchObject({ accountId: 'u1' });
      expect([c, r]).toEqual([undefined, undefined]);
    });

    test('no grant comes along when it expired, is missing, predates grant ids in its row, or the token names none', async () => {
      await payloads.upsert('AccessToken', 'none', { jti: 'none', kind: 'AccessToken' }, 600);
      expect(prefetchedGrant(await payloads.find('AccessToken', 'none'))).toBeUndefined();
      await payloads.upsert('AccessToken', 'orphan', { jti: 'orphan', grantId: 'gone', kind: 'AccessToken' }, 600);
      expect(prefetchedGrant(await payloads.find('AccessToken', 'orphan'))).toBeUndefined();

      await payloads.upsert('Grant', 'old', { jti: 'old', kind: 'Grant' }, 600);
      await payloads.upsert('AccessToken', 'a-old', { jti: 'a-old', grantId: 'old', kind: 'AccessToken' }, 600);
      await payloads.upsert('Grant', 'ended', { jti: 'ended', kind: 'Grant' }, 600);
      await payloads.upsert('AccessToken', 'a-ended', { jti: 'a-ended', grantId: 'ended', kind: 'AccessToken' }, 600);
      // A grant row written before grants kept their id in grant_id; an expired one.
      await t.store.db.updateTable('oidc_payloads').set({ grant_id: null }).where('model', '=', 'Grant').where('grant_id', '=', 'old').execute();
      await t.store.db.updateTable('oidc_payloads').set({ expires_at: Date.now() - 1000 }).where('model', '=', 'Grant').where('grant_id', '=', 'ended').execute();
      const old = await payloads.find('AccessToken', 'a-old');
      expect(old).toMatchObject({ grantId: 'old' });
      expect(prefetchedGrant(old)).toBeUndefined();
      expect(await payloads.find('Grant', 'old')).toMatchObject({ kind: 'Grant' });
      expect(prefetchedGrant(await payloads.find('AccessToken', 'a-ended'))).toBeUndefined();
      expect(await payloads.find('Grant', 'ended')).toBeUndefined();
    });
  });
}
