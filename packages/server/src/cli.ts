import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadSettings, parseDeclarative, readDeclarativeFile } from './config/load.js';
import { reportStartupFailure } from './startup/checks.js';
import { unknownCommand } from './cli-help.js';
import { unknownTesseraVariables } from './config/env-hints.js';
import { createApp } from './app.js';
import { openStore } from './storage/database.js';
import { ConflictError } from './storage/errors.js';
import { DatabaseUnavailableError } from './storage/availability.js';
import { serve } from './main.js';
import { generateClientSecret } from './oidc/clients.js';
import { createClientRepository } from './oidc/repository.js';
import { inviteCommand } from './registration/cli.js';
import { seedCommand } from './admin/seed-cli.js';
import { parseWho, setPasswordCommand, unlockCommand } from './admin/recovery-cli.js';
import { USERNAME_MAX, usernameProblem } from './identity/model.js';
import { createInstanceRepository } from './instance/repository.js';
import { cliIssuer } from './instance/issuer.js';

const SET_PASSWORD_USAGE = 'tessera users set-password (--username U | --email E) [--tenant T] [--generate]';
const UNLOCK_USAGE = 'tessera users unlock (--username U | --email E) [--tenant T]';

const USAGE = `usage: tessera <command>

  serve [--workers N|auto]      run the platform (what \`npm start\` does); --workers: N processes on one port (docs/scaling.md)
  migrate                       apply pending database migrations
  config apply FILE             apply a declarative configuration file (YAML or JSON)
  users create --username U [--email E] [--password P] [--tenant T] [--role R ...]
                                create a user (a password is generated and printed if none is given)
  users invite --email E [--tenant T] [--days N] [--locale en|de]
                                mail an invitation to register (single use, for that address; 7 days by default)
  users import --file F [--tenant T] [--format jsonl|csv] [--dry-run] [--on-conflict skip|update] [--send-activation]
               [--source S] [--errors FILE]
                                import users from JSONL or CSV, idempotent on the external id (docs/users.md#import)
  users export --tenant T [--out F] [--with-password-hashes]
                                export a tenant's users as JSONL (docs/users.md#export)
  users seed --count N [--tenant T] [--batch B]
                                bulk test users for load and search benchmarks (one shared password; not for production)
  ${SET_PASSWORD_USAGE.slice('tessera '.length)}
                                set a user's password: typed at a hidden prompt, read from stdin, or generated and printed once
  ${UNLOCK_USAGE.slice('tessera '.length)}
                                end a lockout and forget failed sign-ins
  clients create --id ID [--name N] [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...]
                 [--grant authorization_code|refresh_token|client_credentials|password ...]
                 [--public] [--first-party] [--tenant T] [--password-grant] [--ip-allow CIDR ...]
                 [--scope "openid orders:read ..."] [--jwks FILE | --jwks-uri URL]
                                register a client; prints client_id, the token endpoint and (once) the secret
                                --password-grant: also the legacy password grant (confidential clients only)
                                --ip-allow: the token endpoint answers the client only from these addresses
                                --scope: the OpenID and API scopes the client may obtain (without it: no API scope)
                                --jwks / --jwks-uri: the client's public keys (a JWK Set file, or its URL); it then
                                authenticates with private_key_jwt and gets no secret
  ldap sync --provider ALIAS    read an LDAP / Active Directory provider now: create, update and disable its users (docs/directories.md#sync)
  providers keys --provider ALIAS
                                list a private_key_jwt provider's client keys and its JWKS URL (docs/federation.md#private_key_jwt)
  providers rotate-key --provider ALIAS [--stage] [--overlap SECONDS]
                                rotate its client key (--stage: publish the next key first; the old one stays published --overlap s)
  keys rotate                   add new signing keys; old ones stay published until their tokens expire
  keys list                     list signing keys
  gateway                       run the API gateway (packages/gateway; configured by GATEWAY_CONFIG, docs/gateway.md)
  mock-providers [--port 4000] [--personas FILE] ...
                                mock Google, Facebook, Entra ID, Keycloak, LDAP directory and SAML IdP for development (docs/mock-providers.md)

Environment: DATABASE_URL, TESSERA_SECRET, TESSERA_DATA_DIR, TESSERA_CONFIG, PORT, TESSERA_ISSUER (docs/configuration.md).`;

/** Runs one CLI command; returns the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  try {
    if (cmd === 'mock-providers') {
      // A development tool in its own package, loaded only when asked for (like the gateway).
      const { runMockProvidersCli } = await import('../../mock-providers/src/cli.js');
      return await runMockProvidersCli(argv.slice(1));
    }
    // `serve` takes options (--workers), not subcommands.
    if (cmd === 'serve') return await serve(argv.slice(1));
    switch (`${cmd ?? ''} ${sub ?? ''}`.trim()) {
      case '':
        return await serve();
      case 'migrate':
        return await migrate();
      case 'config apply':
        return await configApply(rest[0]);
      case 'users create':
        return await usersCreate(rest);
      case 'users invite':
        return await usersInvite(rest);
      case 'users import':
        return await (await import('./userdata/import/cli.js')).importCommand(rest);
      case 'users export':
        return await (await import('./userdata/export.js')).exportCommand(rest);
      case 'users seed':
        return await seedCommand(rest);
      case 'users set-password': {
        const who = parseWho(rest, SET_PASSWORD_USAGE, ['generate']);
        return who ? await withApp((app) => setPasswordCommand(app.platform, who)) : 2;
      }
      case 'users unlock': {
        const who = parseWho(rest, UNLOCK_USAGE);
        return who ? await withApp((app) => unlockCommand(app.platform, who)) : 2;
      }
      case 'clients create':
        return await clientsCreate(rest);
      case 'ldap sync': {
        const { ldapSyncCommand } = await import('./directories/cli.js');
        return await withApp((app) => ldapSyncCommand(app, rest));
      }
      case 'providers keys':
      case 'providers rotate-key': {
        const { parseProviderKeysArgs, providerKeysCommand } = await import('./federation/cli.js');
        const parsed = parseProviderKeysArgs(sub === 'keys' ? 'list' : 'rotate', rest);
        return parsed ? await withApp((app) => providerKeysCommand(app, parsed)) : 2;
      }
      case 'keys rotate':
        return await keysCommand('rotate');
      case 'keys list':
        return await keysCommand('list');
      case 'gateway': {
        // Its own deployable: loaded only when asked for, so the platform never depends on it.
        const { runGateway } = await import('../../gateway/src/main.js');
        return await runGateway();
      }
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        // `tessera users` lists the users commands (generated from USAGE); typos get a suggestion.
        return unknownCommand(argv, USAGE);
    }
  } catch (err) {
    // Configuration, port and database problems: one line (startup/checks.ts), exit code 1.
    const startupCode = reportStartupFailure(err, databaseUrlOrUndefined());
    if (startupCode !== undefined) return startupCode;
    // Locked by another process for longer than TESSERA_DB_TIMEOUT_MS, or gone mid-command: say so, exit 75 (EX_TEMPFAIL: retry).
    if (err instanceof DatabaseUnavailableError) {
      console.error(`tessera: ${err.message}; try again`);
      return 75;
    }
    if (err instanceof ConflictError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`tessera: ${(err as Error).message}`);
      return 2;
    }
    throw err;
  }
}

async function migrate(): Promise<number> {
  const store = openStore(loadSettings().databaseUrl);
  try {
    await store.migrate();
    console.log('migrations applied');
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * Quiet app (no HTTP listener) for commands that need the full service graph.
 * It works with the issuer the store is served as (instance/issuer.ts) and
 * registers nothing that follows the issuer: a running server keeps working.
 */
async function withApp<T>(fn: (app: Awaited<ReturnType<typeof createApp>>) => Promise<T>, overrides = {}): Promise<T> {
  const loaded = loadSettings({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, overrides);
  for (const hint of unknownTesseraVariables(process.env)) console.error(`tessera: warning: ${hint}`);
  const store = openStore(loaded.databaseUrl);
  try {
    await store.migrate();
    const issuer = await cliIssuer(createInstanceRepository(store.db), loaded.issuer, process.env, (m) => console.error(m));
    const app = await createApp(Object.freeze({ ...loaded, issuer }), { store, cli: true });
    try {
      // A store set up from the CLI gets its first administrator here; say how to sign in, once.
      const admin = app.bootstrapped.admin;
      if (admin) {
        console.log(`created the first administrator: username ${admin.username}, password ${admin.generated ? admin.password : '(TESSERA_BOOTSTRAP_ADMIN_PASSWORD)'} (shown only this once)`);
      }
      return await fn(app);
    } finally {
      await app.close();
    }
  } finally {
    await store.close();
  }
}

async function configApply(file: string | undefined): Promise<number> {
  if (!file) {
    console.error('usage: tessera config apply FILE');
    return 2;
  }
  const declarative = readDeclarativeFile(file);
  const summary = await withApp(async (app) => app.configApplied, { declarative, configFile: file });
  console.log(`applied ${file}: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged`);
  return 0;
}

async function usersCreate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      username: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' },
      tenant: { type: 'string', default: 'default' }, role: { type: 'string', multiple: true, default: [] },
      'given-name': { type: 'string' }, 'family-name': { type: 'string' },
    },
  });
  if (!values.username && !values.email) {
    console.error('tessera users create: --username or --email is required');
    return 2;
  }
  if (values.username !== undefined && usernameProblem(values.username)) {
    console.error(`tessera users create: --username must be 1 to ${USERNAME_MAX} characters without spaces, "@" or control characters`);
    return 2;
  }
  const generated = !values.password;
  const password = values.password ?? generateClientSecret().slice(0, 20);
  if (password.length < 8) {
    console.error('tessera users create: --password must be at least 8 characters');
    return 2;
  }
  const user = await withApp((app) => app.identity.createUser({
    tenantId: values.tenant!, username: values.username, email: values.email, password, roles: values.role,
    givenName: values['given-name'], familyName: values['family-name'],
  }));
  console.log(`created user ${user.username ?? user.email} (${user.id}) in tenant ${user.tenantId}`);
  if (generated) console.log(`password: ${password}\n(shown only this once)`);
  return 0;
}

async function usersInvite(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { email: { type: 'string' }, tenant: { type: 'string', default: 'default' }, days: { type: 'string', default: '7' }, locale: { type: 'string' } },
  });
  const days = Number(values.days);
  if (!values.email || !Number.isInteger(days) || days < 1 || days > 30) {
    console.error('usage: tessera users invite --email E [--tenant T] [--days 1-30] [--locale en|de]');
    return 2;
  }
  return withApp((app) => inviteCommand(app.platform, { email: values.email!, tenantId: values.tenant!, locale: values.locale, ttlSeconds: days * 86_400 }));
}

async function clientsCreate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      id: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string', default: 'default' },
      'redirect-uri': { type: 'string', multiple: true, default: [] },
      'post-logout-redirect-uri': { type: 'string', multiple: true, default: [] },
      grant: { type: 'string', multiple: true, default: [] },
      public: { type: 'boolean', default: false }, 'first-party': { type: 'boolean', default: false },
      'password-grant': { type: 'boolean', default: false },
      'ip-allow': { type: 'string', multiple: true, default: [] },
      scope: { type: 'string' },
      jwks: { type: 'string' }, 'jwks-uri': { type: 'string' },
    },
  });
  if (!values.id) {
    console.error('tessera clients create: --id is required');
    return 2;
  }
  // private_key_jwt: the client's public keys, from a JWK Set file or a URL (docs/b2b.md#key-based-client-authentication).
  let jwks: unknown;
  if (values.jwks !== undefined) {
    try {
      jwks = JSON.parse(readFileSync(values.jwks, 'utf8'));
    } catch (err) {
      console.error(`tessera clients create: --jwks ${values.jwks}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a JSON JWK Set'}`);
      return 2;
    }
  }
  const keyAuth = jwks !== undefined || values['jwks-uri'] !== undefined;
  if (keyAuth && values.public) {
    console.error('tessera clients create: --jwks/--jwks-uri make a confidential client; leave out --public');
    return 2;
  }
  // Defaults: a browser app with a redirect URI, a machine client without one. `--password-grant`
  // adds the legacy grant; on its own it is the only grant (no client_credentials on the side).
  const passwordGrant = values['password-grant']!;
  const defaults = values['redirect-uri']!.length ? ['authorization_code', 'refresh_token'] : passwordGrant ? [] : ['client_credentials'];
  const grants = [...new Set([...(values.grant!.length ? values.grant! : defaults), ...(passwordGrant ? ['password'] : [])])];
  const ipAllow = values['ip-allow']!;
  const secret = values.public || keyAuth ? undefined : generateClientSecret();
  const entry = {
    client_id: values.id,
    ...(secret ? { client_secret: secret } : {}),
    ...(values.name ? { client_name: values.name } : {}),
    redirect_uris: values['redirect-uri'],
    post_logout_redirect_uris: values['post-logout-redirect-uri'],
    grant_types: grants,
    token_endpoint_auth_method: values.public ? 'none' : keyAuth ? 'private_key_jwt' : 'client_secret_basic',
    ...(jwks !== undefined ? { jwks } : {}),
    ...(values['jwks-uri'] !== undefined ? { jwks_uri: values['jwks-uri'] } : {}),
    first_party: values['first-party'],
    tenant: values.tenant,
    ...(ipAllow.length ? { ip_allowlist: ipAllow } : {}),
    ...(values.scope?.trim() ? { scope: values.scope.trim().split(/\s+/).join(' ') } : {}),
  };
  const settings = loadSettings();
  const store = openStore(settings.databaseUrl);
  try {
    await store.migrate();
    if (await createClientRepository(store.db).find(values.id)) {
      console.error(`tessera clients create: client ${values.id} already exists`);
      return 2;
    }
  } finally {
    await store.close();
  }
  // Validate and write through the same path as the declarative file (schema + engine checks).
  const declarative = parseDeclarative(JSON.stringify({ clients: [entry] }), 'command line');
  const issuer = await withApp(async (app) => app.platform.settings.issuer, { declarative });
  // Everything a partner needs to connect, in one block.
  const notes = [
    ...(secret ? ['The client secret is shown only this once: Tessera stores only a digest of it.'] : []),
    ...(grants.includes('password') ? ['The password grant is a legacy grant: see docs/protocol.md#legacy-password-grant.'] : []),
  ];
  console.log([
    `created client ${values.id}`,
    '',
    `  client_id: ${values.id}`,
    ...(secret ? [`  client_secret: ${secret}`] : keyAuth ? ['  token_endpoint_auth_method: private_key_jwt (no secret: the client signs assertions with its keys)'] : ['  client_secret: (none: a public client)']),
    ...(values['jwks-uri'] ? [`  jwks_uri: ${values['jwks-uri']}`] : jwks !== undefined ? [`  jwks: ${values.jwks}`] : []),
    ...(keyAuth ? [`  assertion audience: ${issuer} (or ${issuer}/oidc/token)`] : []),
    `  token_endpoint: ${issuer}/oidc/token`,
    `  grant_types: ${grants.join(' ')}`,
    ...(ipAllow.length ? [`  ip_allowlist: ${ipAllow.join(' ')}`] : []),
    ...(entry.scope ? [`  scope: ${entry.scope}`] : []),
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n'));
  return 0;
}

async function keysCommand(action: 'rotate' | 'list'): Promise<number> {
  return withApp(async (app) => {
    if (action === 'rotate') {
      await app.rotateKeys();
      console.log('rotated: new keys sign from now on; running servers pick them up within 30 seconds');
    }
    for (const k of await app.keys.list()) {
      console.log(`${k.kid}  ${k.alg.padEnd(5)}  ${k.status.padEnd(8)}  created ${k.createdAt}${k.retireAt ? `  unpublished after ${k.retireAt}` : ''}`);
    }
    return 0;
  });
}

/** The store a failed command was using, to name it in the error line (undefined when the settings themselves are bad). */
function databaseUrlOrUndefined(): string | undefined {
  try {
    return loadSettings().databaseUrl;
  } catch {
    return undefined;
  }
}
