import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { parse as parseYaml } from 'yaml';
import { ConfigError, formatIssues } from './errors.js';
import { parseProviderConfig, PROVIDER_TYPES } from '../federation/provider-config.js';
import { parseStrictJson } from './strict-json.js';
import { yamlProblem } from './yaml-errors.js';
import { loadBrandingFiles } from '../branding/config.js';
import { fileErrorText } from '../startup/errors.js';
import { envSchema, fileSchema } from './schema.js';
import type { DeclarativeConfig } from './schema.js';
import { BUILT_IN_CLIENT_IDS } from '../oidc/built-in-clients.js';
import { DEFAULT_CONSOLE_DIR } from '../console/files.js';
import { smsSettingsFromEnv } from '../notify/sms-config.js';
import type { SmsSettings } from '../notify/sms-config.js';
import type { RegistrationSettings } from '../oidc/dynamic-registration/engine.js';
import { commonJs, requireOnUse } from '../startup/lazy.js';

type YamlParser = { parse: typeof parseYaml };
// The parser (72 modules) loads when a configuration file is read, not at every start (issue 20).
const requireYaml = requireOnUse<YamlParser>('yaml');
let importedYaml: YamlParser | undefined;
const yaml = () => importedYaml ?? requireYaml();

/**
 * Loads the YAML parser ahead of a synchronous `loadSettings` that will read a
 * configuration file (`tessera serve`, main.ts). Through `import()` the
 * compiled build takes it from its bundle, one chunk, where `require` would
 * walk its 72 files through Node's CommonJS loader: about 50 ms less at each
 * start with `TESSERA_CONFIG` (issue 20, docs/performance.md). The CLI's other
 * commands, and any parse without it, require it on first use.
 */
export async function preloadYaml(): Promise<void> {
  importedYaml ??= commonJs(await import('yaml'));
}

/** Everything Tessera needs to know at boot, parsed once and frozen. */
export interface Settings {
  port: number;
  host: string;
  issuer: string;
  dataDir: string;
  databaseUrl: string;
  secret: string | undefined;
  secretFile: string;
  configFile: string | undefined;
  declarative: DeclarativeConfig;
  /** Reverse proxies in front whose X-Forwarded-For entries are believed (0: none; TESSERA_TRUST_PROXY). */
  trustProxy: number;
  /** Origins besides the issuer's that may post forms (TESSERA_FORM_ORIGINS, http/origin.ts). */
  formOrigins: string[];
  logLevel: string;
  authFailuresPerMinute: number;
  provisioningRequestsPerMinute: number;
  bootstrapAdminPassword: string | undefined;
  outboundPrivateHosts: string[];
  /** Dynamic client registration (oidc/dynamic-registration/). */
  clientRegistration: RegistrationSettings;
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Seconds a multi-factor sign-in counts as recent for sensitive admin operations. */
  adminStepUpMaxAge: number;
  /** Seconds a sign-in counts as recent for security changes on the account pages (authenticators, email, password, data export). */
  accountReauthMaxAge: number;
  /** The admin console's build directory (index.html, assets/), served at /admin. */
  consoleDir: string;
  /** How SMS go out (SMS_PROVIDER and friends; notify/sms-config.ts). */
  sms: SmsSettings;
  /** PostgreSQL: the longest wait for a connection and for one statement (storage/database.ts). */
  dbTimeoutMs: number;
  /** Activation mails per minute across instances (docs/users.md#activation). */
  activationMailsPerMinute: number;
  /** Worker processes of `tessera serve` (1: no workers, the process serves itself; docs/scaling.md). */
  workers: number | 'auto';
  /** Redis for shared throttle counts and change notifications (docs/scaling.md). */
  redisUrl: string | undefined;
  redisPrefix: string;
  /** Where the engine's short-lived state lives (docs/scaling.md#what-lives-where). */
  engineState: 'redis' | 'database';
  /** Where the lockout's counts and known sources' locks live (identity/lockout-counters.ts). */
  lockoutState: 'redis' | 'database';
  /** Seconds between /readyz turning 503 on SIGTERM and the listener closing. */
  shutdownDelaySeconds: number;
  /** Webhook delivery (docs/webhooks.md#delivery). */
  webhooks: { pollMs: number; leaseMs: number; retryBaseMs: number; retryMaxMs: number; maxAttempts: number; timeoutMs: number };
}

/**
 * Reads the environment and the optional declarative file.
 * @throws ConfigError listing every problem as `path: message`.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Settings> = {}): Readonly<Settings> {
  const parsed = envSchema.safeParse(env, { reportInput: true });
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, envSchema), 'the environment');
  const e = parsed.data;
  if (e.TESSERA_ENGINE_STATE === 'redis' && !e.REDIS_URL) {
    throw new ConfigError(['TESSERA_ENGINE_STATE: redis needs REDIS_URL'], 'the environment');
  }
  if (e.TESSERA_LOCKOUT_STATE === 'redis' && !e.REDIS_URL) {
    throw new ConfigError(['TESSERA_LOCKOUT_STATE: redis needs REDIS_URL'], 'the environment');
  }
  const dataDir = resolve(e.TESSERA_DATA_DIR);
  const configFile = e.TESSERA_CONFIG ? resolve(e.TESSERA_CONFIG) : undefined;
  const settings: Settings = {
    port: e.PORT,
    host: e.HOST,
    issuer: (e.TESSERA_ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `sqlite:${join(dataDir, 'tessera.db')}`,
    secret: e.TESSERA_SECRET,
    secretFile: join(dataDir, 'secret'),
    configFile,
    declarative: configFile ? readDeclarativeFile(configFile, 'TESSERA_CONFIG') : fileSchema.parse({}),
    trustProxy: e.TESSERA_TRUST_PROXY,
    formOrigins: e.TESSERA_FORM_ORIGINS,
    logLevel: e.LOG_LEVEL,
    authFailuresPerMinute: e.TESSERA_AUTH_FAILURES_PER_MINUTE,
    provisioningRequestsPerMinute: e.TESSERA_PROVISIONING_REQUESTS_PER_MINUTE,
    bootstrapAdminPassword: e.TESSERA_BOOTSTRAP_ADMIN_PASSWORD,
    outboundPrivateHosts: e.TESSERA_OUTBOUND_PRIVATE_HOSTS,
    clientRegistration: {
      mode: e.TESSERA_CLIENT_REGISTRATION, grantTypes: e.TESSERA_CLIENT_REGISTRATION_GRANT_TYPES,
      redirectUriPatterns: e.TESSERA_CLIENT_REGISTRATION_REDIRECT_URIS, scopes: e.TESSERA_CLIENT_REGISTRATION_SCOPES,
      maxClientsPerTenant: e.TESSERA_CLIENT_REGISTRATION_MAX_CLIENTS,
    },
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    adminStepUpMaxAge: e.TESSERA_ADMIN_STEP_UP_MAX_AGE,
    accountReauthMaxAge: e.TESSERA_ACCOUNT_REAUTH_MAX_AGE,
    consoleDir: e.TESSERA_CONSOLE_DIR ? resolve(e.TESSERA_CONSOLE_DIR) : DEFAULT_CONSOLE_DIR,
    sms: smsSettingsFromEnv(env),
    dbTimeoutMs: e.TESSERA_DB_TIMEOUT_MS,
    activationMailsPerMinute: e.TESSERA_ACTIVATION_MAILS_PER_MINUTE,
    workers: e.TESSERA_WORKERS,
    shutdownDelaySeconds: e.TESSERA_SHUTDOWN_DELAY_SECONDS,
    webhooks: {
      pollMs: e.TESSERA_WEBHOOK_POLL_MS, leaseMs: e.TESSERA_WEBHOOK_LEASE_MS, retryBaseMs: e.TESSERA_WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: e.TESSERA_WEBHOOK_RETRY_MAX_MS, maxAttempts: e.TESSERA_WEBHOOK_MAX_ATTEMPTS, timeoutMs: e.TESSERA_WEBHOOK_TIMEOUT_MS,
    },
    redisUrl: e.REDIS_URL,
    redisPrefix: e.TESSERA_REDIS_PREFIX,
    engineState: e.TESSERA_ENGINE_STATE ?? (e.REDIS_URL ? 'redis' : 'database'),
    lockoutState: e.TESSERA_LOCKOUT_STATE ?? (e.REDIS_URL ? 'redis' : 'database'),
    ...overrides,
  };
  return Object.freeze(settings);
}

/**
 * Parses a YAML or JSON file (JSON is YAML) and validates it, including
 * references between entries (tenants, roles, duplicates).
 * @throws ConfigError
 */
export function readDeclarativeFile(path: string, namedBy?: string): DeclarativeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const problem = `cannot read the file: ${fileErrorText(err)}`;
    throw new ConfigError([problem], path, { headline: `cannot read the configuration file ${path}${namedBy ? ` (${namedBy})` : ''}: ${fileErrorText(err)}` });
  }
  return parseDeclarative(text, path);
}

export function parseDeclarative(text: string, source = 'configuration'): DeclarativeConfig {
  let raw: unknown;
  try {
    // Plain JSON without the YAML parser; anything else (and every error) through it, as before (strict-json.ts).
    const json = parseStrictJson(text);
    raw = (json ? json.value : yaml().parse(text, { uniqueKeys: true })) ?? {};
  } catch (err) {
    const { problem, excerpt } = yamlProblem(err, text);
    throw new ConfigError([problem], source, { excerpt });
  }
  const result = fileSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(result.error, fileSchema), source);
  const problems = [...crossReferenceProblems(result.data), ...loadBrandingFiles(result.data.tenants, source)];
  if (problems.length) throw new ConfigError(problems, source);
  return result.data;
}

/** Checks that what entries point at exists, and that identifiers are unique. */
function crossReferenceProblems(cfg: DeclarativeConfig): string[] {
  const problems: string[] = [];
  const tenants = new Set(['default', ...cfg.tenants.map((t) => t.id)]);
  const duplicates = <T>(list: T[], key: (t: T) => string, label: string, field: string) => {
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const k = key(item);
      if (seen.has(k)) problems.push(`${label}[${i}].${field}: duplicate ${field} "${k}"`);
      seen.add(k);
    });
  };
  duplicates(cfg.tenants, (t) => t.id, 'tenants', 'id');
  duplicates(cfg.apis, (a) => a.identifier, 'apis', 'identifier');
  duplicates(cfg.clients, (c) => c.client_id, 'clients', 'client_id');
  duplicates(cfg.roles, (r) => `${r.tenant}/${r.name}`, 'roles', 'name');
  duplicates(cfg.users.filter((u) => u.username), (u) => `${u.tenant}/${u.username!.toLowerCase()}`, 'users', 'username');
  duplicates(cfg.attributes, (a) => `${a.tenant}/${a.name}`, 'attributes', 'name');
  duplicates(cfg.identity_providers, (p) => String(p.alias), 'identity_providers', 'alias');
  cfg.identity_providers.forEach((p, i) => {
    const parsed = parseProviderConfig(p);
    if (!parsed.ok) return;
    parsed.value.tenants.forEach((t, j) => {
      if (!tenants.has(t)) problems.push(`identity_providers[${i}].tenants[${j}]: unknown tenant "${t}"`);
    });
    parsed.value.group_mappings.forEach((m, j) => {
      if (m.tenant && !tenants.has(m.tenant)) problems.push(`identity_providers[${i}].group_mappings[${j}].tenant: unknown tenant "${m.tenant}"`);
    });
    // Mock providers are a development feature (packages/mock-providers): a production server refuses to name one.
    if (PROVIDER_TYPES[parsed.value.type]?.developmentOnly && process.env.NODE_ENV === 'production') {
      problems.push(`identity_providers[${i}].type: "${parsed.value.type}" is for development only and refused with NODE_ENV=production`);
    }
  });
  duplicates(cfg.inbound_sources, (s) => `${s.tenant}/${s.name}`, 'inbound_sources', 'name');
  cfg.inbound_sources.forEach((s, i) => {
    if (!tenants.has(s.tenant)) problems.push(`inbound_sources[${i}].tenant: unknown tenant "${s.tenant}"`);
  });
  cfg.attributes.forEach((a, i) => {
    if (!tenants.has(a.tenant)) problems.push(`attributes[${i}].tenant: unknown tenant "${a.tenant}"`);
  });

  const roles = new Set(cfg.roles.map((r) => `${r.tenant}/${r.name}`));
  cfg.roles.forEach((r, i) => {
    if (!tenants.has(r.tenant)) problems.push(`roles[${i}].tenant: unknown tenant "${r.tenant}"`);
  });
  cfg.clients.forEach((c, i) => {
    if (!tenants.has(c.tenant)) problems.push(`clients[${i}].tenant: unknown tenant "${c.tenant}"`);
    // Registered by Tessera at every start (bootstrap.ts); the file, applied after it, would fight it at every start.
    if (BUILT_IN_CLIENT_IDS.includes(c.client_id)) {
      problems.push(`clients[${i}].client_id: "${c.client_id}" is a built-in client that Tessera registers itself; use another id`);
    }
  });
  cfg.users.forEach((u, i) => {
    if (!tenants.has(u.tenant)) problems.push(`users[${i}].tenant: unknown tenant "${u.tenant}"`);
    u.roles.forEach((role, j) => {
      if (role !== 'admin' && !roles.has(`${u.tenant}/${role}`)) {
        problems.push(`users[${i}].roles[${j}]: unknown role "${role}" in tenant "${u.tenant}" (declare it under roles)`);
      }
    });
  });
  return problems;
}
