import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { loadSettings } from '../config/load.js';
import { openStore } from '../storage/database.js';
import { createTenantRepository } from '../identity/repository.js';
import { toUser } from '../identity/repository.js';
import { sortBinary } from '../storage/order.js';
import { createUserDataRepository } from './repository.js';
import { createAuditRepository } from '../audit/repository.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Writes a tenant's users as JSONL (docs/users.md#export): profile, status,
 * roles, attributes, external ids and federation links, one user a line,
 * in sign-up order, read in keyset pages (memory stays flat at any size).
 * Never secrets: no password hash unless `withPasswordHashes`, never
 * authenticator secrets, passkeys or recovery codes. The output imports
 * as is (`tessera users import`). Returns how many users were written.
 */
export async function exportUsers(db: Kysely<Database>, tenantId: string, out: Writable, opts: { withPasswordHashes?: boolean; pageSize?: number } = {}): Promise<number> {
  const data = createUserDataRepository(db);
  const pageSize = opts.pageSize ?? 1000;
  let after: { k: number; i: string } | undefined;
  let written = 0;
  for (;;) {
    let q = db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId);
    if (after) q = q.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after!.k, after!.i)));
    const rows = await q.orderBy('created_at').orderBy('id').limit(pageSize).execute();
    if (!rows.length) return written;
    const ids = rows.map((r) => r.id);
    const [roles, links, values] = await Promise.all([
      db.selectFrom('user_roles').select(['user_id', 'role']).where('tenant_id', '=', tenantId).where('user_id', 'in', ids).execute(),
      db.selectFrom('external_links').select(['user_id', 'provider', 'subject', 'email']).where('tenant_id', '=', tenantId).where('user_id', 'in', ids).execute(),
      data.dataOfMany(ids),
    ]);
    let chunk = '';
    for (const r of rows) {
      const u = toUser(r, sortBinary(roles.filter((x) => x.user_id === r.id).map((x) => x.role), (x) => x));
      const d = values.get(r.id)!;
      const line = {
        id: u.id, username: u.username, email: u.email, email_verified: u.emailVerified, given_name: u.givenName, family_name: u.familyName,
        phone_number: u.phoneNumber, phone_number_verified: u.phoneNumberVerified, locale: u.locale,
        // `locked` is a lock, not a status an import sets: it exports as active.
        status: u.status === 'locked' ? 'active' : u.status, roles: u.roles, attributes: d.attributes, external_ids: d.externalIds,
        links: links.filter((l) => l.user_id === r.id).map((l) => ({ provider: l.provider, subject: l.subject, email: l.email })),
        created_at: iso(u.createdAt), activated_at: iso(u.activatedAt),
        ...(opts.withPasswordHashes && u.passwordHash ? { password_hash: u.passwordHash } : {}),
      };
      chunk += `${JSON.stringify(Object.fromEntries(Object.entries(line).filter(([, v]) => v !== null)))}\n`;
    }
    if (!out.write(chunk)) await once(out, 'drain');
    written += rows.length;
    const last = rows.at(-1)!;
    after = { k: Number(last.created_at), i: last.id };
  }
}

/** `tessera users export --tenant T [--out F] [--with-password-hashes]`. Returns the exit code. */
export async function exportCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { tenant: { type: 'string' }, out: { type: 'string' }, 'with-password-hashes': { type: 'boolean', default: false } } });
  if (!values.tenant) {
    console.error('usage: tessera users export --tenant T [--out FILE] [--with-password-hashes]');
    return 2;
  }
  const store = openStore(loadSettings({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }).databaseUrl);
  try {
    await store.migrate();
    // The default tenant exists on every started store; a store used before its first start gets it here.
    if (values.tenant === 'default') await createTenantRepository(store.db).upsert('default', 'Default').catch(() => undefined);
    if (!(await store.db.selectFrom('tenants').select('id').where('id', '=', values.tenant).executeTakeFirst())) {
      console.error(`tessera users export: unknown tenant "${values.tenant}"`);
      return 2;
    }
    const out = values.out ? createWriteStream(values.out, { mode: 0o600 }) : process.stdout;
    const n = await exportUsers(store.db, values.tenant, out, { withPasswordHashes: values['with-password-hashes'] });
    if (values.out) {
      out.end();
      await once(out, 'finish');
    }
    await createAuditRepository(store.db).append({
      type: 'users.exported', at: Date.now(), tenantId: values.tenant, subjectId: null, context: {},
      data: { via: 'cli', users: n, with_password_hashes: values['with-password-hashes'] },
    });
    console.error(`exported ${n} users of tenant ${values.tenant}${values.out ? ` to ${values.out}` : ''}${values['with-password-hashes'] ? ' (with password hashes: keep the file secret)' : ''}`);
    return 0;
  } finally {
    await store.close();
  }
}
