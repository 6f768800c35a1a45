/**
 * Contract of the passkey storage (credentials and WebAuthn challenges),
 * run against every engine like storage.contract.test.ts: SQLite always,
 * PostgreSQL when TEST_DATABASE_URL is set.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { ConflictError, NotFoundError } from '../src/storage/errors.js';
import { createUserRepository } from '../src/identity/repository.js';
import { createTenantRepository } from '../src/identity/repository.js';
import { createChallengeStore, createPasskeyRepository } from '../src/mfa/passkeys/repository.js';
import type { ChallengeStore, NewPasskey, PasskeyRepository } from '../src/mfa/passkeys/repository.js';

for (const engine of ENGINES) {
  describe(`passkey storage (${engine.name})`, () => {
    let t: TestStore;
    let passkeys: PasskeyRepository;
    let challenges: ChallengeStore;
    let alice: string;
    let bob: string;
    const key = (id: string, userId: string, extra: Partial<NewPasskey> = {}): NewPasskey => ({
      id, userId, tenantId: 'default', publicKey: 'pQECAyYgASFYIA', signCount: 0, transports: ['internal', 'hybrid'],
      aaguid: '00000000-0000-0000-0000-000000000000', deviceType: 'singleDevice', backedUp: false, name: id, ...extra,
    });

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      await createTenantRepository(t.store.db).upsert('default', 'Default');
      const users = createUserRepository(t.store.db);
      alice = (await users.create({ tenantId: 'default', username: 'alice' })).id;
      bob = (await users.create({ tenantId: 'default', username: 'bob' })).id;
      passkeys = createPasskeyRepository(t.store.db);
      challenges = createChallengeStore(t.store.db);
    });
    afterEach(async () => {
      await t.dispose();
    });

    test('create, read back, list per user in creation order; a credential id is unique across users', async () => {
      await passkeys.create(key('cred-a', alice, { signCount: 4_000_000_000, backedUp: true, deviceType: 'multiDevice' }), 1000);
      await passkeys.create(key('cred-b', alice), 2000);
      expect(await passkeys.findById('cred-a')).toEqual({
        ...key('cred-a', alice, { signCount: 4_000_000_000, backedUp: true, deviceType: 'multiDevice' }), createdAt: 1000, lastUsedAt: null,
      });
      expect((await passkeys.listByUser(alice)).map((k) => k.id)).toEqual(['cred-a', 'cred-b']);
      expect(await passkeys.listByUser(bob)).toEqual([]);
      const dup = await passkeys.create(key('cred-a', bob)).catch((e: Error) => e);
      expect(dup).toBeInstanceOf(ConflictError);
      const orphan = await passkeys.create(key('cred-z', 'no-such-user')).catch((e: Error) => e);
      expect(orphan).toBeInstanceOf(NotFoundError);
    });

    test('rename and remove only touch the owner\'s passkeys', async () => {
      await passkeys.create(key('cred-a', alice));
      expect(await passkeys.rename(bob, 'cred-a', 'stolen')).toBe(false);
      expect(await passkeys.remove(bob, 'cred-a')).toBe(false);
      expect(await passkeys.rename(alice, 'cred-a', 'Laptop')).toBe(true);
      expect((await passkeys.findById('cred-a'))!.name).toBe('Laptop');
      await passkeys.create(key('cred-b', alice));
      expect(await passkeys.remove(alice, 'cred-a')).toBe(true);
      expect(await passkeys.removeAll(alice)).toBe(1);
      expect(await passkeys.listByUser(alice)).toEqual([]);
    });

    test('recordUse is a compare-and-set on the counter: of two racing uses, one wins', async () => {
      await passkeys.create(key('cred-a', alice, { signCount: 5 }));
      const [a, b] = await Promise.all([
        passkeys.recordUse('cred-a', 5, { signCount: 6, backedUp: false }, 7000),
        passkeys.recordUse('cred-a', 5, { signCount: 7, backedUp: false }, 7000),
      ]);
      expect([a, b].filter(Boolean)).toHaveLength(1);
      const stored = (await passkeys.findById('cred-a'))!;
      expect([6, 7]).toContain(stored.signCount);
      expect(stored.lastUsedAt).toBe(7000);
    });

    test('challenges: consumed once, only with their binding, not after expiry; live ones are capped per binding', async () => {
      const now = Date.now();
      const c = (await challenges.create({ purpose: 'login', interactionUid: 'uid-1' }, 60, 3, now))!;
      expect(c).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await challenges.consume(c, { purpose: 'mfa', interactionUid: 'uid-1' }, now)).toBe(false);
      expect(await challenges.consume(c, { purpose: 'login', interactionUid: 'uid-2' }, now)).toBe(false);
      expect(await challenges.consume(c, { purpose: 'login', interactionUid: 'uid-1', userId: alice }, now)).toBe(false);
      const results = await Promise.all([1, 2, 3].map(() => challenges.consume(c, { purpose: 'login', interactionUid: 'uid-1' }, now)));
      expect(results.filter(Boolean)).toHaveLength(1);

      const r = (await challenges.create({ purpose: 'register', userId: alice }, 60, 3, now))!;
      expect(await challenges.consume(r, { purpose: 'register', userId: alice }, now + 61_000)).toBe(false);

      for (let i = 0; i < 3; i++) expect(await challenges.create({ purpose: 'mfa', userId: bob, interactionUid: 'u' }, 60, 3, now)).toBeDefined();
      expect(await challenges.create({ purpose: 'mfa', userId: bob, interactionUid: 'u' }, 60, 3, now)).toBeUndefined();
      // Expired ones no longer count (creating sweeps them); sweep() removes what expired since.
      expect(await challenges.create({ purpose: 'mfa', userId: bob, interactionUid: 'u' }, 60, 3, now + 61_000)).toBeDefined();
      expect(await challenges.sweep(now + 200_000)).toBe(1);
    });
  });
}
