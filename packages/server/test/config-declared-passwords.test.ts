import { afterEach, describe, expect, test } from 'vitest';
import { parseDeclarative } from '../src/config/load.js';
import { applyDeclarativeConfig } from '../src/config/apply.js';
import type { ApplyDeps } from '../src/config/apply.js';
import { hashPassword, verifyPassword } from '../src/identity/password.js';
import { createKek } from '../src/oidc/kek.js';
import { createTestStore, startTestApp } from './helpers/app.js';
import type { TestStore } from './helpers/app.js';

// Issue 20: a start re-applying an unchanged file runs no argon2 per declared user.
// The real argon2 functions, wrapped to count their calls.
function counted() {
  const calls = { hash: 0, verify: 0 };
  const passwords: NonNullable<ApplyDeps['passwords']> = {
    hash: (p) => { calls.hash++; return hashPassword(p); },
    verify: (h, p) => { calls.verify++; return verifyPassword(h, p); },
  };
  return { calls, passwords, reset: () => { calls.hash = 0; calls.verify = 0; } };
}

const N = 6;
const file = (passwords: string[]) => parseDeclarative(JSON.stringify({
  users: passwords.map((password, i) => ({ username: `user${i}`, email: `user${i}@example.test`, password })),
}));
const initial = Array.from({ length: N }, (_, i) => `declared-password-${i}-long-enough`);
const KEY = createKek('declared-test-secret-declared-test-secret').derive('declared passwords');

describe('declared passwords: argon2 only when the file or the stored hash changed', () => {
  let store: TestStore | undefined;
  afterEach(async () => {
    await store?.dispose();
    store = undefined;
  });

  const hashOf = async (username: string) =>
    (await store!.store.db.selectFrom('users').select('password_hash').where('username', '=', username).executeTakeFirstOrThrow()).password_hash!;

  test(`a file with ${N} users applied twice: no argon2 the second time; a changed password is applied`, async () => {
    store = await createTestStore();
    await store.store.migrate();
    const db = store.store.db;
    const c = counted();
    const first = await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(first.created).toBeGreaterThanOrEqual(N);
    expect(c.calls).toEqual({ hash: N, verify: 0 });
    const hashes = await db.selectFrom('users').select(['username', 'password_hash']).orderBy('username').execute();

    c.reset();
    const second = await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 0, verify: 0 });
    expect(second).toMatchObject({ created: 0, updated: 0 });
    expect(await db.selectFrom('users').select(['username', 'password_hash']).orderBy('username').execute()).toEqual(hashes);

    // One password changed in the file: verified once (fails), hashed once, and it is the password now.
    c.reset();
    const edited = [...initial];
    edited[2] = 'a-new-declared-password-for-user2';
    const third = await applyDeclarativeConfig(file(edited), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 1, verify: 1 });
    expect(third.updated).toBe(1);
    expect(await verifyPassword(await hashOf('user2'), 'a-new-declared-password-for-user2')).toBe(true);
    expect(await verifyPassword(await hashOf('user2'), initial[2]!)).toBe(false);

    c.reset();
    await applyDeclarativeConfig(file(edited), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 0, verify: 0 });
  });

  test('a password changed since (account page, administrator): the file still wins, as before', async () => {
    store = await createTestStore();
    await store.store.migrate();
    const db = store.store.db;
    const c = counted();
    await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    // What a password change does to the row: a new hash.
    await db.updateTable('users').set({ password_hash: await hashPassword('changed-by-the-user-since') }).where('username', '=', 'user1').execute();

    c.reset();
    const summary = await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 1, verify: 1 });
    expect(summary.updated).toBe(1);
    expect(await verifyPassword(await hashOf('user1'), initial[1]!)).toBe(true);
  });

  test('no tag yet (an upgrade), another TESSERA_SECRET, or no key: verified as before, and remembered from then on', async () => {
    store = await createTestStore();
    await store.store.migrate();
    const db = store.store.db;
    const c = counted();
    // Without a key (as before this change): every start verifies each declared user.
    await applyDeclarativeConfig(file(initial), { db, passwords: c.passwords });
    c.reset();
    await applyDeclarativeConfig(file(initial), { db, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 0, verify: N });
    expect(await db.selectFrom('declared_passwords').selectAll().execute()).toEqual([]);

    // First start with a key: one verification each (all match, nothing rehashed), then none.
    c.reset();
    const upgraded = await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 0, verify: N });
    expect(upgraded.updated).toBe(0);
    c.reset();
    await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: KEY, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 0, verify: 0 });

    // The tags are keyed: under another secret they do not match, so each password is verified again.
    const otherKey = createKek('another-secret-another-secret-another').derive('declared passwords');
    c.reset();
    const rekeyed = await applyDeclarativeConfig(file(initial), { db, declaredPasswordKey: otherKey, passwords: c.passwords });
    expect(c.calls).toEqual({ hash: 0, verify: N });
    expect(rekeyed.updated).toBe(0);
    // Only tags are stored: no password and no unkeyed digest of one.
    for (const row of await db.selectFrom('declared_passwords').selectAll().execute()) {
      expect(row.tag).toMatch(/^[A-Za-z0-9_-]{43}$/);
      for (const p of initial) expect(row.tag).not.toContain(p);
    }
  });

  test('the server remembers the declared passwords it applied at start (one tag per declared user)', async () => {
    const t = await startTestApp({ config: { users: initial.slice(0, 3).map((password, i) => ({ username: `user${i}`, password })) } });
    try {
      const rows = await t.app.store.db.selectFrom('declared_passwords').innerJoin('users', 'users.id', 'declared_passwords.user_id').select('users.username').orderBy('users.username').execute();
      expect(rows.map((r) => r.username)).toEqual(['user0', 'user1', 'user2']);
    } finally {
      await t.close();
    }
  });
});
