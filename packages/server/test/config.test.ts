import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { parseDeclarative, loadSettings } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { applyDeclarativeConfig } from '../src/config/apply.js';
import { createTestStore, startTestApp } from './helpers/app.js';
import type { TestStore } from './helpers/app.js';
import { baseConfig } from './fixtures.js';

/** The problems a file is rejected with. */
function problems(config: unknown): string[] {
  try {
    parseDeclarative(typeof config === 'string' ? config : JSON.stringify(config), 'test.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const client = (extra: Record<string, unknown>) => ({ client_id: 'c', token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/cb'], ...extra });

describe('declarative file validation', () => {
  test('names the path of the bad field', () => {
    const cfg = { clients: [client({ client_id: 'a' }), client({ client_id: 'b' }), client({ client_id: 'x', redirect_uris: ['/relative'] })] };
    expect(problems(cfg)).toEqual(['clients[2].redirect_uris[0]: must be an absolute URL without a fragment']);
  });

  test('usernames follow the one rule every way of making users shares (no spaces, "@" or control characters; at most 64)', () => {
    const users = ['ok.name', 'bob@example.test', 'two words', 'x'.repeat(65), 'tab\there', 'ünïcode-ok'].map((username) => ({ username, password: 'a long enough password' }));
    expect(problems({ users })).toEqual([
      'users[1].username: must not contain spaces, "@" or control characters',
      'users[2].username: must not contain spaces, "@" or control characters',
      'users[3].username: must be at most 64 characters',
      'users[4].username: must not contain spaces, "@" or control characters',
    ]);
  });

  test.each([
    [{ clients: [client({ surprise: 1 })] }, 'clients[0]: unknown key "surprise"'],
    [{ clients: [client({ token_endpoint_auth_method: 'client_secret_basic' })] }, 'clients[0].client_secret: is required when token_endpoint_auth_method is client_secret_basic'],
    [{ clients: [client({ token_endpoint_auth_method: 'client_secret_post', client_secret: 'short' })] }, 'clients[0].client_secret: must be at least 32 characters'],
    [{ clients: [client({ client_secret: 'x'.repeat(40) })] }, 'clients[0].client_secret: must not be set for a public client'],
    [{ clients: [client({ grant_types: ['implicit'] })] }, 'clients[0].grant_types[0]: must be one of'],
    [{ clients: [client({ response_types: ['token'] })] }, 'clients[0].response_types[0]: only "code" is supported'],
    [{ clients: [client({ tenant: 'nope' })] }, 'clients[0].tenant: unknown tenant "nope"'],
    [{ clients: [client({}), client({})] }, 'clients[1].client_id: duplicate client_id "c"'],
    [{ clients: [client({ redirect_uris: ['https://app.example/cb#frag'] })] }, 'clients[0].redirect_uris[0]: must be an absolute URL'],
    [{ apis: [{ identifier: 'not a url', name: 'x' }] }, 'apis[0].identifier: must be an absolute URL'],
    [{ apis: [{ identifier: 'https://a.example', name: 'x', signing_alg: 'HS256' }] }, 'apis[0].signing_alg: must be ES256 or RS256'],
    [{ users: [{ username: 'u', password: 'short' }] }, 'users[0].password: must be at least 8 characters'],
    [{ users: [{ username: 'u', roles: ['ghost'] }] }, 'users[0].roles[0]: unknown role "ghost" in tenant "default"'],
    [{ users: [{ given_name: 'No Login' }] }, 'users[0].username: needs a username or an email'],
    [{ users: [{ username: 'u', email: 'not-an-email' }] }, 'users[0].email: must be an email address'],
    [{ tenants: [{ id: 'bad id!', name: 'x' }] }, 'tenants[0].id: must be 1-128 letters'],
    [{ clients: 'nope' }, 'clients: '],
    [{ unknown_section: [] }, '(root): unknown key "unknown_section"'],
  ])('%j → %s', (cfg, expected) => {
    const found = problems(cfg);
    expect(found.some((p) => p.startsWith(expected)), `got ${JSON.stringify(found)}`).toBe(true);
  });

  test('YAML syntax errors and duplicate keys are reported', () => {
    expect(problems('clients: [\n')[0]).toMatch(/^not valid YAML or JSON/);
    expect(problems('tenants: []\ntenants: []\n')[0]).toMatch(/^not valid YAML or JSON/);
  });

  test('an empty file is a valid, empty configuration', () => {
    expect(problems('')).toEqual([]);
  });
});

describe('environment', () => {
  test('bad values are named', () => {
    expect(() => loadSettings({ PORT: 'abc' })).toThrow(/PORT: must be a number/);
    expect(() => loadSettings({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: must start with sqlite: or postgres:\/\//);
  });

  test('engine state: in Redis by default with REDIS_URL, in the database without; redis without REDIS_URL is refused', () => {
    expect(loadSettings({}).engineState).toBe('database');
    expect(loadSettings({ REDIS_URL: 'redis://127.0.0.1:6379' }).engineState).toBe('redis');
    expect(loadSettings({ REDIS_URL: 'redis://127.0.0.1:6379', TESSERA_ENGINE_STATE: 'database' }).engineState).toBe('database');
    expect(() => loadSettings({ TESSERA_ENGINE_STATE: 'redis' })).toThrow(/TESSERA_ENGINE_STATE: redis needs REDIS_URL/);
    expect(() => loadSettings({ TESSERA_ENGINE_STATE: 'memory' })).toThrow(/TESSERA_ENGINE_STATE/);
  });

  test('lockout counters: in Redis by default with REDIS_URL, in the database without; redis without REDIS_URL is refused', () => {
    expect(loadSettings({}).lockoutState).toBe('database');
    expect(loadSettings({ REDIS_URL: 'redis://127.0.0.1:6379' }).lockoutState).toBe('redis');
    expect(loadSettings({ REDIS_URL: 'redis://127.0.0.1:6379', TESSERA_LOCKOUT_STATE: 'database' }).lockoutState).toBe('database');
    expect(loadSettings({ REDIS_URL: 'redis://127.0.0.1:6379', TESSERA_ENGINE_STATE: 'database' }).lockoutState).toBe('redis');
    expect(() => loadSettings({ TESSERA_LOCKOUT_STATE: 'redis' })).toThrow(/TESSERA_LOCKOUT_STATE: redis needs REDIS_URL/);
    expect(() => loadSettings({ TESSERA_LOCKOUT_STATE: 'memory' })).toThrow(/TESSERA_LOCKOUT_STATE/);
  });

  test('defaults: port 3000, issuer http://localhost:PORT, SQLite under ./data', () => {
    const s = loadSettings({});
    expect(s.port).toBe(3000);
    expect(s.issuer).toBe('http://localhost:3000');
    expect(s.databaseUrl).toMatch(/^sqlite:.*data[/\\]tessera\.db$/);
    expect(Object.isFrozen(s)).toBe(true);
    expect(loadSettings({ PORT: '4000' }).issuer).toBe('http://localhost:4000');
  });

  test('TESSERA_CONFIG is read as YAML', () => {
    const dir = process.env.TMPDIR ?? '/tmp';
    const file = join(dir, `tessera-config-${process.pid}.yaml`);
    writeFileSync(file, 'tenants:\n  - id: acme\n    name: Acme\n');
    expect(loadSettings({ TESSERA_CONFIG: file }).declarative.tenants).toEqual([{ id: 'acme', name: 'Acme' }]);
  });
});

describe('idempotent apply', () => {
  let store: TestStore | undefined;
  afterEach(async () => {
    await store?.dispose();
    store = undefined;
  });

  test('applying the same file twice changes nothing', async () => {
    store = await createTestStore();
    await store.store.migrate();
    const cfg = parseDeclarative(JSON.stringify(baseConfig));
    const first = await applyDeclarativeConfig(cfg, { db: store.store.db });
    expect(first.created).toBeGreaterThan(0);
    const snapshot = async () => ({
      users: await store!.store.db.selectFrom('users').selectAll().orderBy('id').execute(),
      clients: await store!.store.db.selectFrom('clients').selectAll().orderBy('client_id').execute(),
      apis: await store!.store.db.selectFrom('apis').selectAll().execute(),
      roles: await store!.store.db.selectFrom('user_roles').selectAll().execute(),
    });
    const before = await snapshot();
    const second = await applyDeclarativeConfig(cfg, { db: store.store.db });
    expect(second.created).toBe(0);
    expect(second.updated).toBe(0);
    expect(second.unchanged).toBeGreaterThanOrEqual(first.created - 1); // the default tenant is only counted when created
    expect(await snapshot()).toEqual(before);
  });

  test('a changed field is updated, the rest is left alone', async () => {
    store = await createTestStore();
    await store.store.migrate();
    await applyDeclarativeConfig(parseDeclarative(JSON.stringify(baseConfig)), { db: store.store.db });
    const changed = structuredClone(baseConfig);
    changed.users[0]!.given_name = 'Alicia';
    const summary = await applyDeclarativeConfig(parseDeclarative(JSON.stringify(changed)), { db: store.store.db });
    expect(summary.updated).toBe(1);
    const row = await store.store.db.selectFrom('users').select('given_name').where('username', '=', 'alice').executeTakeFirstOrThrow();
    expect(row.given_name).toBe('Alicia');
  });

  test('a file that fails half-way writes nothing, and the server does not start', async () => {
    store = await createTestStore();
    const bad = {
      tenants: [{ id: 'fresh', name: 'Fresh' }],
      users: [{ username: 'one', email: 'same@example.test' }, { username: 'two', email: 'SAME@example.test' }],
    };
    await expect(startTestApp({ testStore: store, config: bad })).rejects.toThrow(/users\[1\]: username or email already in use/);
    const tenants = await store.store.db.selectFrom('tenants').select('id').execute();
    expect(tenants.map((t) => t.id)).not.toContain('fresh');
    expect(await store.store.db.selectFrom('users').select('username').where('username', '=', 'one').execute()).toEqual([]);
  });

  test('the engine vets client metadata before anything is written', async () => {
    store = await createTestStore();
    const bad = {
      tenants: [{ id: 'fresh2', name: 'Fresh' }],
      clients: [client({ client_id: 'ok' }), client({ client_id: 'native', redirect_uris: ['javascript:alert(1)'] })],
    };
    const err = await startTestApp({ testStore: store, config: bad }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toMatch(/^clients\[1\]: /);
    expect(await store.store.db.selectFrom('clients').select('client_id').where('client_id', '=', 'ok').execute()).toEqual([]);
  });
});
