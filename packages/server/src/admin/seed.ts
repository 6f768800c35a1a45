import { randomUUID } from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import { SqliteAdapter, sql } from 'kysely';
import type { Database, UsersTable } from '../storage/schema.js';
import { nameKeys, normalizeEmail, normalizeUsername } from '../identity/model.js';
import type { UserStatus } from '../identity/model.js';
import { hashPassword } from '../identity/password.js';
import { NotFoundError } from '../storage/errors.js';

/**
 * Bulk test data: `tessera users seed` and bench/admin-search.ts fill a
 * tenant with realistic users (names from many languages, addresses at a
 * handful of domains, mostly active, some pending, disabled or locked,
 * sign-up times spread over three years) to measure the admin user search
 * at scale. Rows go in through multi-row INSERTs in transactions of
 * `batchSize`, with one password hash computed once and shared: hashing a
 * million argon2 passwords would take hours and measure nothing.
 */
export const SEED_PASSWORD = 'seeded-user-password';

const GIVEN = [
  'Alice', 'Amelia', 'Ana', 'Anders', 'Andrea', 'Anna', 'Arjun', 'Aurora', 'Ben', 'Björn', 'Camille', 'Carlos', 'Chen', 'Chiara', 'Chloé',
  'Daniel', 'David', 'Diego', 'Elena', 'Elif', 'Elijah', 'Emma', 'Eva', 'Fatima', 'Felix', 'Finn', 'Francesca', 'Gabriel', 'Grace', 'Hana',
  'Hannah', 'Hiroshi', 'Ines', 'Isabella', 'Ivan', 'Jack', 'James', 'Jana', 'Javier', 'Jonas', 'José', 'Julia', 'Kai', 'Karim', 'Katarzyna',
  'Lars', 'Laura', 'Leon', 'Lina', 'Lucas', 'Lucía', 'Luka', 'Maja', 'Marco', 'Maria', 'Mateo', 'Maya', 'Mehmet', 'Mia', 'Mohammed', 'Nadia',
  'Noah', 'Nora', 'Olivia', 'Oscar', 'Paul', 'Pedro', 'Priya', 'Rafael', 'Rania', 'Ravi', 'Rosa', 'Sakura', 'Samuel', 'Sara', 'Sebastian',
  'Sofia', 'Sophie', 'Stefan', 'Tariq', 'Theo', 'Tomás', 'Valentina', 'Wei', 'Yara', 'Yusuf', 'Zoë', 'Øystein', 'Émile', 'Ümit',
];
const FAMILY = [
  'Abe', 'Adeyemi', 'Ahmed', 'Andersen', 'Bauer', 'Becker', 'Bianchi', 'Brown', 'Chen', 'Costa', 'Da Silva', 'Dubois', 'Eriksson', 'Fernández',
  'Fischer', 'García', 'Gonzalez', 'Hansen', 'Hoffmann', 'Ivanova', 'Jansen', 'Jensen', 'Johansson', 'Kaya', 'Kim', 'Kowalski', 'Kumar',
  'Larsen', 'Laurent', 'Lee', 'Li', 'Liddell', 'López', 'Martin', 'Martínez', 'Meyer', 'Moreau', 'Müller', 'Nakamura', 'Nguyen', 'Nielsen',
  'Novak', 'O\'Brien', 'Okafor', 'Olsen', 'Patel', 'Pereira', 'Petrov', 'Popescu', 'Rossi', 'Sánchez', 'Santos', 'Sato', 'Schmidt', 'Schneider',
  'Schulz', 'Silva', 'Singh', 'Smith', 'Suzuki', 'Tanaka', 'Taylor', 'Thomas', 'Van Dijk', 'Wagner', 'Wang', 'Weber', 'Williams', 'Wilson',
  'Wójcik', 'Yamamoto', 'Yilmaz', 'Zhang', 'Åberg', 'Ödegaard', 'Żukowski',
];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example', 'corp.example'];

export interface SeedOptions {
  tenantId: string;
  count: number;
  /** Rows per transaction (default 10 000). */
  batchSize?: number;
  /** Called after each transaction with the number of users written so far. */
  onProgress?: (written: number) => void;
}

/** A deterministic pseudo-random sequence (xorshift32), so two runs seed the same data. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

const ascii = (s: string) => s.normalize('NFKD').replace(/[^A-Za-z]/g, '').toLowerCase();

function status(r: number): UserStatus {
  return r < 0.9 ? 'active' : r < 0.95 ? 'pending' : r < 0.98 ? 'disabled' : 'locked';
}

/**
 * Adds `count` users to the tenant, numbered after the ones seeded before
 * (usernames `given.family.N`, so a second run adds, never collides).
 * @throws NotFoundError for an unknown tenant.
 */
export async function seedUsers(db: Kysely<Database>, opts: SeedOptions): Promise<{ created: number; ms: number }> {
  const started = Date.now();
  if (!(await db.selectFrom('tenants').select('id').where('id', '=', opts.tenantId).executeTakeFirst())) throw new NotFoundError('tenant', opts.tenantId);
  const offset = Number((await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', opts.tenantId)
    .executeTakeFirstOrThrow()).n);
  const passwordHash = await hashPassword(SEED_PASSWORD);
  const batchSize = opts.batchSize ?? 10_000;
  // Engines cap bound parameters per statement (SQLite 32 766, PostgreSQL 65 535): ~26 columns × 1 000 rows fits both.
  const rowsPerStatement = 1_000;
  const rand = random(0x7e55e7a + offset);
  const span = 3 * 365 * 86_400_000;
  const start = Date.now() - span;

  // SQLite: a larger page cache while seeding (random UUID keys touch pages all over four indexes); the
  // connection's default (2 MB) makes a million-row seed I/O-bound. Restored afterwards.
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  const cacheSize = sqlite ? (await sql<{ cache_size: number }>`pragma cache_size`.execute(db)).rows[0]?.cache_size : undefined;
  if (sqlite) await sql`pragma cache_size = -524288`.execute(db);

  let written = 0;
  while (written < opts.count) {
    const n = Math.min(batchSize, opts.count - written);
    const rows: Insertable<UsersTable>[] = [];
    for (let i = 0; i < n; i++) {
      const index = offset + written + i;
      const given = GIVEN[Math.floor(rand() * GIVEN.length)]!;
      const family = FAMILY[Math.floor(rand() * FAMILY.length)]!;
      const username = `${ascii(given)}.${ascii(family)}.${index}`;
      const email = `${username}@${DOMAINS[index % DOMAINS.length]}`;
      const st = status(rand());
      // Increasing sign-up times spread over the three years (the order the default listing pages through).
      const createdAt = start + Math.floor(((index + rand()) / Math.max(opts.count + offset, 1)) * span);
      const keys = nameKeys(given, family);
      rows.push({
        id: randomUUID(), tenant_id: opts.tenantId, username, username_normalized: normalizeUsername(username),
        email, email_normalized: normalizeEmail(email), email_verified: st === 'pending' ? 0 : 1,
        given_name: given, family_name: family, phone_number: null, phone_number_verified: 0,
        password_hash: passwordHash, status: st, created_at: createdAt, updated_at: createdAt,
        failed_logins: 0, failed_window_start: null, locked_until: null, password_changed_at: createdAt, locale: null,
        name_family_first: keys.familyFirst, name_given_first: keys.givenFirst,
      });
    }
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += rowsPerStatement) {
        const chunk = rows.slice(i, i + rowsPerStatement);
        await trx.insertInto('users').values(chunk).execute();
        await trx.insertInto('memberships').values(chunk.map((r) => ({ user_id: r.id, tenant_id: r.tenant_id, created_at: r.created_at }))).execute();
      }
    });
    written += n;
    opts.onProgress?.(written);
  }
  if (sqlite && cacheSize !== undefined) await sql.raw(`pragma cache_size = ${Number(cacheSize)}`).execute(db);
  // Fresh statistics, so the planners pick the search indexes (PostgreSQL especially).
  await sql`analyze`.execute(db);
  return { created: written, ms: Date.now() - started };
}
