/**
 * oidc/account-prefetch.ts: a token found on a route that reads its user
 * next (UserInfo, the token endpoint) brings the user along in the same
 * statement (identity/repository.ts, `userJoinedJson`), and the request's
 * read of that user (oidc/account.ts, `userInRequest`) is answered with it:
 * what `findById` returns, without a statement. Other routes, other
 * requests and users seen from another tenant read the store as before.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Adapter } from 'oidc-provider';
// The engine's request context (Provider.ctx reads it): entered here as the engine enters it per request.
import als from 'oidc-provider/lib/helpers/als.js';
import { ENGINES } from './helpers/engines.js';
import { SelectCounter } from './helpers/select-counter.js';
import type { TestStore } from './helpers/app.js';
import { createOidcPayloadStore, prefetchedAccount } from '../src/oidc/payload-store.js';
import { createAdapterFactory } from '../src/oidc/adapter.js';
import { homeUserInRequest, userInRequest } from '../src/oidc/account.js';
import type { ClientRepository } from '../src/oidc/repository.js';
import { createRoleRepository, createTenantRepository, createUserRepository, userFromJoinedJson } from '../src/identity/repository.js';
import type { UserRepository } from '../src/identity/repository.js';
import type { User } from '../src/identity/model.js';

/** An engine request's context on `route` (its client, when given), and `fn` run inside it as the engine runs its middlewares. */
const request = (route: string, client?: { clientId: string; tenant: string }) => {
  const ctx = { oidc: { route, ...(client ? { client } : {}) } };
  return { ctx, run: <T>(fn: () => Promise<T>): Promise<T> => als.run(ctx, fn) as Promise<T> };
};

for (const engine of ENGINES) {
  describe(`a token's user read with it (${engine.name})`, () => {
    let t: TestStore;
    let selects: SelectCounter;
    let adapter: (model: string) => Adapter;
    let users: UserRepository;
    let alice: User;
    let bob: User;

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      const db = t.store.db;
      await createTenantRepository(db).upsert('acme', 'Acme');
      await createTenantRepository(db).upsert('globex', 'Globex');
      for (const role of ['admin', 'editor']) await createRoleRepository(db).upsert('acme', role, role);
      await createRoleRepository(db).upsert('globex', 'auditor', 'auditor');
      const plain = createUserRepository(db);
      // Every column toUser reads holds a value (or a chosen null): the JSON path must give back each.
      alice = await plain.create({
        tenantId: 'acme', username: 'alice', email: 'alice@example.test', emailVerified: true, givenName: 'Alice', familyName: 'Liddell',
        phoneNumber: '+15550100', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', locale: 'en-GB',
      });
      await plain.setRoles(alice.id, 'acme', ['editor', 'admin']);
      await plain.addMembership(alice.id, 'globex');
      await plain.setRoles(alice.id, 'globex', ['auditor']);
      await plain.incrementLoginFailures(alice.id, Date.now(), Date.now() - 60_000);
      await plain.lock(alice.id, Date.now() + 3_600_000);
      await plain.updateProfile(alice.id, { phoneNumberVerified: true });
      bob = await plain.create({ tenantId: 'acme', username: 'bob' });

      selects = new SelectCounter();
      const counted = t.store.db.withPlugin(selects);
      users = createUserRepository(counted);
      const store = createOidcPayloadStore(counted, 'account-prefetch-test-key');
      adapter = createAdapterFactory(store, {} as ClientRepository);
      await adapter('Grant').upsert('g1', { jti: 'g1', accountId: alice.id, clientId: 'c', kind: 'Grant' }, 3600);
      await adapter('AccessToken').upsert('at-alice', { jti: 'at-alice', grantId: 'g1', accountId: alice.id, clientId: 'c', kind: 'AccessToken' }, 600);
      await adapter('AccessToken').upsert('at-bob', { jti: 'at-bob', accountId: bob.id, clientId: 'c', kind: 'AccessToken' }, 600);
      await adapter('AccessToken').upsert('at-gone', { jti: 'at-gone', accountId: 'no-such-user', clientId: 'c', kind: 'AccessToken' }, 600);
      await adapter('RefreshToken').upsert('rt-alice', { jti: 'rt-alice', grantId: 'g1', accountId: alice.id, clientId: 'c', kind: 'RefreshToken' }, 600);
      selects.n = 0;
    });
    afterEach(async () => {
      await t?.dispose();
    });

    test('the user read with a token is what findById returns: roles, lock, counters, nulls; none for a missing user', async () => {
      const plain = createUserRepository(t.store.db);
      for (const [token, id] of [['at-alice', alice.id], ['at-bob', bob.id], ['at-gone', 'no-such-user']] as const) {
        const { ctx, run } = request('userinfo');
        const payload = await run(() => adapter('AccessToken').find(token));
        expect(payload).toMatchObject({ accountId: id });
        const found = await userInRequest(users, ctx, id);
        expect(found).toEqual(await plain.findById(id));
      }
      // Alice's home roles only (sorted), her temporary lock and failure count, the verified phone.
      const read = await plain.findById(alice.id);
      expect(read).toMatchObject({ roles: ['admin', 'editor'], status: 'locked', phoneNumberVerified: true, emailVerified: true, locale: 'en-GB' });
      expect(read!.lockedUntil).toBeGreaterThan(Date.now());
      // The three reads took one statement each (the token's), none for the user.
      expect(selects.n).toBe(3);
      expect(userFromJoinedJson(null)).toBeUndefined();
      expect(userFromJoinedJson('[]')).toBeUndefined();
      expect(userFromJoinedJson([])).toBeUndefined();
    });

    test('UserInfo and the token endpoint: the token and its user in one statement, the user given once to the request that read it', async () => {
      for (const [route, model, token] of [['userinfo', 'AccessToken', 'at-alice'], ['token', 'RefreshToken', 'rt-alice']] as const) {
        selects.n = 0;
        const { ctx, run } = request(route);
        await run(async () => {
          expect(await adapter(model).find(token)).toMatchObject({ accountId: alice.id });
          expect(selects.n).toBe(1);
          const user = await userInRequest(users, ctx, alice.id);
          expect(user).toMatchObject({ id: alice.id, roles: ['admin', 'editor'] });
          expect(selects.n).toBe(1);
          // The request's later reads share it (userInRequest), still no statement.
          expect(await userInRequest(users, ctx, alice.id)).toBe(user);
          expect(selects.n).toBe(1);
        });
        // Another request reads the store.
        const other = request(route);
        expect(await userInRequest(users, other.ctx, alice.id)).toEqual(await userInRequest(users, ctx, alice.id));
        expect(selects.n).toBe(2);
      }
    });

    test('one home read per request, shared: the return from a sign-in checks the session\'s user, then finds the account', async () => {
      const plain = createUserRepository(t.store.db);
      // A client of alice's home tenant: the account is the home read.
      const atHome = request('resume', { clientId: 'acme-app', tenant: 'acme' });
      const home = await homeUserInRequest(users, atHome.ctx, alice.id);
      expect(home).toEqual(await plain.findById(alice.id));
      expect(selects.n).toBe(1);
      expect(await userInRequest(users, atHome.ctx, alice.id)).toBe(home);
      expect(selects.n).toBe(1);
      // A client of another tenant: the home read, then only the membership (findInTenant given the home).
      const elsewhere = request('resume', { clientId: 'globex-app', tenant: 'globex' });
      await homeUserInRequest(users, elsewhere.ctx, alice.id);
      expect(selects.n).toBe(2);
      expect(await userInRequest(users, elsewhere.ctx, alice.id)).toEqual(await plain.findInTenant(alice.id, 'globex'));
      expect(selects.n).toBe(3);
      // Outside a request: plain reads.
      expect(await homeUserInRequest(users, undefined, bob.id)).toEqual(await plain.findById(bob.id));
      expect(selects.n).toBe(4);
    });

    test('introspection does not read the user with the token; a client of another tenant reads its membership', async () => {
      const introspection = request('introspection');
      const payload = await introspection.run(() => adapter('AccessToken').find('at-alice'));
      expect(prefetchedAccount(payload as object | undefined)).toBeUndefined();
      expect(selects.n).toBe(1);
      await userInRequest(users, introspection.ctx, alice.id);
      expect(selects.n).toBe(2);

      // A globex client sees alice as a globex member with globex's roles: the home read with the token cannot say that.
      selects.n = 0;
      const plain = createUserRepository(t.store.db);
      const { ctx, run } = request('userinfo', { clientId: 'globex-app', tenant: 'globex' });
      await run(() => adapter('AccessToken').find('at-alice'));
      const member = await userInRequest(users, ctx, alice.id);
      expect(member).toEqual(await plain.findInTenant(alice.id, 'globex'));
      expect(member).toMatchObject({ roles: ['auditor'], memberOf: 'globex' });
      expect(selects.n).toBeGreaterThan(1);
    });
  });
}
