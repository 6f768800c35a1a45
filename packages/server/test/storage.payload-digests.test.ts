import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';
import type { OidcPayloadStore } from '../src/oidc/payload-store.js';

/**
 * Contract (every engine): the protocol engine's artefacts are stored under
 * keyed digests of their ids, so a copy of the table yields no usable token,
 * code or session; rows written before digests are converted in place and
 * keep working.
 */
const KEY = 'payload-digest-test-key';
const TOKEN = 'Xq3T9vA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1vW2xY';

for (const engine of ENGINES) {
  describe(`oidc payload id digests (${engine.name})`, () => {
    let t: TestStore;
    let payloads: OidcPayloadStore;
    const rows = () => t.store.db.selectFrom('oidc_payloads').selectAll().execute();

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      payloads = createOidcPayloadStore(t.store.db, KEY);
    });
    afterEach(async () => {
      await t?.dispose();
    });

    test('the token appears nowhere in the row; find by the token gives it back with its jti', async () => {
      const payload = { jti: TOKEN, kind: 'RefreshToken', accountId: 'u1', grantId: 'g1', sessionUid: 'su1', exp: 2_000_000_000 };
      await payloads.upsert('RefreshToken', TOKEN, payload, 3600);
      const [row] = await rows();
      expect(JSON.stringify(row)).not.toContain(TOKEN);
      expect(row!.id).toMatch(/^h1\.[A-Za-z0-9_-]{43}$/);
      expect(await payloads.find('RefreshToken', TOKEN)).toEqual(payload);
      // Lookups by references still work (and give no token back).
      expect(await payloads.listByAccount('RefreshToken', 'u1')).toEqual([payload]);
      expect(await payloads.consumeOnce('RefreshToken', TOKEN)).toBe(true);
      expect(await payloads.consumeOnce('RefreshToken', TOKEN)).toBe(false);
      await payloads.consume('RefreshToken', TOKEN);
      expect((await payloads.find('RefreshToken', TOKEN))?.consumed).toBeTypeOf('number');
      await payloads.destroy('RefreshToken', TOKEN);
      expect(await rows()).toEqual([]);
    });

    test('the digest depends on the key and the model: another key finds nothing, another model neither', async () => {
      await payloads.upsert('AccessToken', TOKEN, { jti: TOKEN }, 3600);
      expect(await createOidcPayloadStore(t.store.db, 'another key').find('AccessToken', TOKEN)).toBeUndefined();
      expect(await payloads.find('RefreshToken', TOKEN)).toBeUndefined();
      // The stored id itself is no lookup key either.
      const [row] = await rows();
      expect(await payloads.find('AccessToken', row!.id)).toBeUndefined();
    });

    test('an interaction\'s copy of the session cookie is sealed; the user-code column is a digest', async () => {
      await payloads.upsert('Interaction', 'int-1', { jti: 'int-1', uid: 'int-1', session: { accountId: 'u1', uid: 'su1', cookie: TOKEN } }, 600);
      await payloads.upsert('DeviceCode', 'dc-1', { jti: 'dc-1', userCode: 'ABCD-EFGH' }, 600);
      const all = await rows();
      expect(JSON.stringify(all)).not.toContain(TOKEN);
      // (The device flow, off in Tessera, keeps the code in its payload: the engine reads it from there.)
      expect(all.find((r) => r.model === 'DeviceCode')!.user_code).toMatch(/^h1\./);
      expect(await payloads.find('Interaction', 'int-1')).toEqual({ jti: 'int-1', uid: 'int-1', session: { accountId: 'u1', uid: 'su1', cookie: TOKEN } });
      expect(await payloads.findByUserCode('DeviceCode', 'ABCD-EFGH')).toEqual({ jti: 'dc-1', userCode: 'ABCD-EFGH' });
    });

    test('grants keep their id readable (a reference); revocation except kept grants still works', async () => {
      await payloads.upsert('Grant', 'g-keep', { jti: 'g-keep', accountId: 'u1' }, 3600);
      await payloads.upsert('Grant', 'g-drop', { jti: 'g-drop', accountId: 'u1' }, 3600);
      await payloads.upsert('Session', 's-keep', { jti: 's-keep', uid: 'su-keep', accountId: 'u1' }, 3600);
      await payloads.upsert('Session', 's-drop', { jti: 's-drop', uid: 'su-drop', accountId: 'u1' }, 3600);
      await payloads.upsert('AccessToken', 'at-keep', { jti: 'at-keep', accountId: 'u1', grantId: 'g-keep' }, 3600);
      await payloads.upsert('AccessToken', 'at-drop', { jti: 'at-drop', accountId: 'u1', grantId: 'g-drop' }, 3600);
      expect(await payloads.revokeByAccountExcept('u1', { sessionUid: 'su-keep', grantIds: ['g-keep'] })).toBe(3);
      expect(await payloads.find('Grant', 'g-keep')).toEqual({ jti: 'g-keep', accountId: 'u1' });
      expect(await payloads.find('AccessToken', 'at-keep')).toBeDefined();
      expect(await payloads.find('AccessToken', 'at-drop')).toBeUndefined();
      // Found by reference, the engine gets its id back too (it instantiates the session from it).
      expect(await payloads.findByUid('Session', 'su-keep')).toEqual({ jti: 's-keep', uid: 'su-keep', accountId: 'u1' });
    });

    test('rows from before digests are converted once, in place, and keep working', async () => {
      // As an earlier version wrote them: the plain token as id and inside the payload.
      const legacy = [
        { model: 'RefreshToken', id: TOKEN, payload: { jti: TOKEN, accountId: 'u1', grantId: 'g1' }, user_code: null },
        { model: 'Session', id: 'sess-plain', payload: { jti: 'sess-plain', uid: 'su1', accountId: 'u1' }, user_code: null },
        { model: 'Interaction', id: 'int-plain', payload: { jti: 'int-plain', session: { uid: 'su1', cookie: 'sess-plain' } }, user_code: null },
        { model: 'DeviceCode', id: 'dc-plain', payload: { jti: 'dc-plain', userCode: 'WXYZ-0000' }, user_code: 'WXYZ-0000' },
      ];
      for (const r of legacy) {
        await t.store.db.insertInto('oidc_payloads').values({
          model: r.model, id: r.id, payload: JSON.stringify(r.payload), grant_id: (r.payload as { grantId?: string }).grantId ?? null,
          user_code: r.user_code, uid: (r.payload as { uid?: string }).uid ?? null, account_id: (r.payload as { accountId?: string }).accountId ?? null,
          expires_at: Date.now() + 3_600_000, consumed_at: null,
        }).execute();
      }
      // A row written by the new code meanwhile is left alone.
      await payloads.upsert('AccessToken', 'new-one', { jti: 'new-one' }, 3600);
      expect(await payloads.upgradeLegacyRows()).toBe(4);
      const all = await rows();
      expect(all.every((r) => r.id.startsWith('h1.'))).toBe(true);
      const text = JSON.stringify(all);
      for (const secret of [TOKEN, 'sess-plain']) expect(text).not.toContain(secret);
      expect(all.find((r) => r.model === 'DeviceCode')!.user_code).toMatch(/^h1\./);
      expect(await payloads.find('RefreshToken', TOKEN)).toEqual({ jti: TOKEN, accountId: 'u1', grantId: 'g1' });
      expect(await payloads.find('Session', 'sess-plain')).toEqual({ jti: 'sess-plain', uid: 'su1', accountId: 'u1' });
      expect(await payloads.findByUserCode('DeviceCode', 'WXYZ-0000')).toEqual({ jti: 'dc-plain', userCode: 'WXYZ-0000' });
      expect(await payloads.find('Interaction', 'int-plain')).toEqual({ jti: 'int-plain', session: { uid: 'su1', cookie: 'sess-plain' } });
      expect(await payloads.find('AccessToken', 'new-one')).toEqual({ jti: 'new-one' });
      // Once done, later starts do nothing (and do not scan).
      expect(await payloads.upgradeLegacyRows()).toBe(0);
    });
  });
}

test('the id digest is HMAC-SHA256 of kind, model and id, the same when kept (recent ones) as when computed again', async () => {
  const { createHmac, hkdfSync } = await import('node:crypto');
  const { payloadProtector } = await import('../src/oidc/payload-store.js');
  const p = payloadProtector(KEY);
  const macKey = Buffer.from(hkdfSync('sha256', KEY, 'tessera', 'oidc payload id digest', 32));
  const expected = (model: string, kind: string, id: string) => `h1.${createHmac('sha256', macKey).update(`${kind}\u0000${model}\u0000${id}`).digest('base64url')}`;
  expect(p.digest('AccessToken', 'id', TOKEN)).toBe(expected('AccessToken', 'id', TOKEN));
  expect(p.digest('AccessToken', 'id', TOKEN)).toBe(expected('AccessToken', 'id', TOKEN));
  expect(p.digest('RefreshToken', 'id', TOKEN)).toBe(expected('RefreshToken', 'id', TOKEN));
  expect(p.digest('DeviceCode', 'user_code', TOKEN)).toBe(expected('DeviceCode', 'user_code', TOKEN));
  // Past the kept ones (1 024): the oldest is computed again, the same.
  for (let i = 0; i < 1500; i++) expect(p.digest('Session', 'id', `s${i}`)).toBe(expected('Session', 'id', `s${i}`));
  expect(p.digest('AccessToken', 'id', TOKEN)).toBe(expected('AccessToken', 'id', TOKEN));
  expect(p.digest('Session', 'id', 's1499')).toBe(expected('Session', 'id', 's1499'));
});
