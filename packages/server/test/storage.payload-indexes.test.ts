/**
 * Migration 042 on every engine: the token table's grant, uid, user-code and
 * account indexes hold only rows with a value, and the store's lookups by
 * those columns still find their rows through them.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { sql } from 'kysely';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';
import type { OidcPayloadStore } from '../src/oidc/payload-store.js';

const PARTIAL = ['oidc_payloads_grant', 'oidc_payloads_uid', 'oidc_payloads_user_code', 'oidc_payloads_account'];

for (const engine of ENGINES) {
  describe(`partial indexes of the token table (${engine.name})`, () => {
    let t: TestStore;
    let payloads: OidcPayloadStore;

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      payloads = createOidcPayloadStore(t.store.db, 'payload-indexes-test-key');
    });
    afterEach(async () => {
      await t?.dispose();
    });

    /** The index definitions as the database reports them. */
    async function definitions(): Promise<Map<string, string>> {
      const rows = engine.name === 'sqlite'
        ? (await sql<{ name: string; def: string }>`select name, sql as def from sqlite_master where type = 'index' and tbl_name = 'oidc_payloads'`.execute(t.store.db)).rows
        : (await sql<{ name: string; def: string }>`select indexname as name, indexdef as def from pg_indexes where tablename = 'oidc_payloads' and schemaname = current_schema()`.execute(t.store.db)).rows;
      return new Map(rows.map((r) => [r.name, r.def ?? '']));
    }

    /** The plan of a query, as text. PostgreSQL is told not to scan the table, or a tiny table is always scanned. */
    async function plan(query: string): Promise<string> {
      if (engine.name === 'sqlite') {
        return (await sql<{ detail: string }>`explain query plan ${sql.raw(query)}`.execute(t.store.db)).rows.map((r) => r.detail).join('\n');
      }
      return t.store.db.connection().execute(async (db) => {
        await sql`set enable_seqscan = off`.execute(db);
        try {
          return (await sql<{ 'QUERY PLAN': string }>`explain ${sql.raw(query)}`.execute(db)).rows.map((r) => r['QUERY PLAN']).join('\n');
        } finally {
          await sql`reset enable_seqscan`.execute(db);
        }
      });
    }

    test('the four indexes are partial (where the column is not null); the primary key and expiry index are whole', async () => {
      const defs = await definitions();
      for (const name of PARTIAL) expect(defs.get(name), name).toMatch(/where .*is not null/i);
      expect(defs.get('oidc_payloads_expires')).not.toMatch(/where/i);
    });

    test('token rows stay out of the partial indexes; the lookups by uid, user code, grant and account find their rows', async () => {
      await payloads.upsert('Session', 's1', { uid: 'uid-1', accountId: 'acc-1', kind: 'Session' }, 3600);
      await payloads.upsert('DeviceCode', 'd1', { userCode: 'ABCD-EFGH', grantId: 'g1', kind: 'DeviceCode' }, 3600);
      await payloads.upsert('AccessToken', 'a1', { grantId: 'g1', accountId: 'acc-1', kind: 'AccessToken' }, 3600);
      await payloads.upsert('ClientCredentials', 'c1', { kind: 'ClientCredentials' }, 3600);

      expect(await payloads.findByUid('Session', 'uid-1')).toMatchObject({ uid: 'uid-1' });
      expect(await payloads.findByUserCode('DeviceCode', 'ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
      expect(await payloads.listByAccount('AccessToken', 'acc-1')).toHaveLength(1);
      await payloads.revokeByGrantId('g1');
      expect(await payloads.find('AccessToken', 'a1')).toBeUndefined();
      expect(await payloads.find('DeviceCode', 'd1')).toBeUndefined();
      expect(await payloads.find('ClientCredentials', 'c1')).toMatchObject({ kind: 'ClientCredentials' });
      expect(await payloads.findByUid('Session', 'uid-1')).toMatchObject({ uid: 'uid-1' });

      expect(await plan(`select * from oidc_payloads where model = 'Session' and uid = 'uid-1'`)).toContain('oidc_payloads_uid');
      expect(await plan(`select * from oidc_payloads where model = 'DeviceCode' and user_code = 'x'`)).toContain('oidc_payloads_user_code');
      expect(await plan(`delete from oidc_payloads where grant_id = 'g1' and model in ('AccessToken', 'RefreshToken')`)).toContain('oidc_payloads_grant');
      expect(await plan(`select * from oidc_payloads where account_id = 'acc-1' and model = 'Session'`)).toContain('oidc_payloads_account');
      // A token's find with its grant (oidc/payload-finds.ts): the primary key, and the grant index for the grant.
      const withGrant = await plan(`select * from oidc_payloads where (model = 'AccessToken' and id = 'a1')
        or (model = 'Grant' and grant_id = (select t.grant_id from oidc_payloads as t where t.model = 'AccessToken' and t.id = 'a1'))`);
      expect(withGrant).toContain('oidc_payloads_grant');
      expect(withGrant).toMatch(/oidc_payloads_pk|sqlite_autoindex_oidc_payloads/);
      expect(withGrant).not.toMatch(/Seq Scan|SCAN oidc_payloads/);
    });
  });
}
