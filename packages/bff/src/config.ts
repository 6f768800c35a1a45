import { z } from 'zod';

/**
 * The BFF's configuration: read once from the environment, validated by one
 * zod schema, frozen. Every problem is listed at once, by variable name.
 */
export interface BffConfig {
  /** The platform's issuer (discovery lives under it). */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientAuth: 'client_secret_basic' | 'client_secret_post';
  /** The public callback URL registered at the platform; its origin is the BFF's public origin. */
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string | undefined;
  /** Where `/api/*` is forwarded to (the gateway in production), without a trailing slash. */
  readonly apiBase: string;
  readonly scope: string;
  /** RFC 8707 resource indicator: the API the access token is for (makes it a JWT for that API). */
  readonly resource: string | undefined;
  readonly host: string;
  readonly port: number;
  /** `Secure` cookies with the `__Host-` prefix. Derived from the redirect URI's scheme. */
  readonly cookieSecure: boolean;
  /** Plain-http calls to the issuer (openid-client refuses them otherwise). */
  readonly allowInsecureIssuer: boolean;
  /** Renew the access token when it expires within this many seconds. */
  readonly renewBeforeSeconds: number;
  /** Absolute lifetime of a local session. */
  readonly sessionTtlSeconds: number;
  readonly apiTimeoutSeconds: number;
  readonly bodyLimitBytes: number;
  readonly logLevel: string;
  /** Derived: origin of `redirectUri`, the only `Origin` accepted on state-changing requests. */
  readonly publicOrigin: string;
  /** Derived: path of `redirectUri`, where the callback route is mounted. */
  readonly callbackPath: string;
  /** Unauthenticated pass-through routes: `/bff/public/<name>/*` → `target/*` (registration, password reset). */
  readonly publicRoutes: ReadonlyArray<{ name: string; target: string }>;
}

export class BffConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid BFF configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'BffConfigError';
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

const httpUrl = z.string().trim().refine((value) => {
  try {
    const u = new URL(value);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without a fragment or credentials');

const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const seconds = (fallback: number) => z.coerce.number().int().positive().max(31_622_400).default(fallback);

const EnvSchema = z.object({
  BFF_ISSUER: httpUrl,
  BFF_CLIENT_ID: z.string().trim().min(1),
  // Tessera itself requires ≥ 32 characters for confidential clients.
  BFF_CLIENT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  BFF_CLIENT_AUTH: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
  BFF_REDIRECT_URI: httpUrl,
  BFF_POST_LOGOUT_REDIRECT_URI: httpUrl.optional(),
  BFF_API_BASE: httpUrl,
  BFF_SCOPE: z.string().trim().default('openid profile email')
    .refine((s) => s.split(/\s+/).includes('openid'), 'must include openid'),
  BFF_RESOURCE: httpUrl.optional(),
  BFF_HOST: z.string().trim().min(1).default('0.0.0.0'),
  BFF_PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  BFF_COOKIE_SECURE: flag.optional(),
  BFF_ALLOW_INSECURE_ISSUER: flag.default(false),
  BFF_RENEW_BEFORE: seconds(30),
  BFF_SESSION_TTL: seconds(8 * 3600),
  BFF_API_TIMEOUT: seconds(30),
  BFF_BODY_LIMIT: z.coerce.number().int().positive().default(1024 * 1024),
  // `name=https://platform/path,...`: see docs/bff.md#public-routes.
  BFF_PUBLIC_ROUTES: z.string().trim().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * Parses the BFF's settings from an environment-shaped record.
 * @throws BffConfigError listing every problem, by variable name.
 */
export function loadBffConfig(env: Record<string, string | undefined> = process.env): Readonly<BffConfig> {
  // Empty strings count as unset, as in most process managers' env files.
  const input = Object.fromEntries(Object.entries(env).filter(([k, v]) => (k.startsWith('BFF_') || k === 'LOG_LEVEL') && v !== ''));
  const parsed = EnvSchema.safeParse(input);
  if (!parsed.success) {
    throw new BffConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  const issuer = new URL(e.BFF_ISSUER);
  const redirect = new URL(e.BFF_REDIRECT_URI);
  const https = redirect.protocol === 'https:';

  // openid-client refuses plain http, rightly: tokens and the client secret
  // travel on these requests. Loopback is the developer's own machine.
  const loopbackIssuer = issuer.protocol === 'http:' && LOOPBACK_HOSTS.has(issuer.hostname);
  if (issuer.protocol === 'http:' && !loopbackIssuer && !e.BFF_ALLOW_INSECURE_ISSUER) {
    problems.push('BFF_ISSUER: must be https (plain http is allowed for localhost/127.0.0.1, or with BFF_ALLOW_INSECURE_ISSUER=true)');
  }
  // A Secure-less session cookie on an https site could leak over a downgraded connection.
  if (https && e.BFF_COOKIE_SECURE === false) {
    problems.push('BFF_COOKIE_SECURE: cannot be false when BFF_REDIRECT_URI is https');
  }
  if (redirect.search) problems.push('BFF_REDIRECT_URI: must not have a query string');
  if (e.BFF_POST_LOGOUT_REDIRECT_URI && new URL(e.BFF_POST_LOGOUT_REDIRECT_URI).protocol === 'http:' && https) {
    problems.push('BFF_POST_LOGOUT_REDIRECT_URI: must be https when BFF_REDIRECT_URI is');
  }
  const publicRoutes = parsePublicRoutes(e.BFF_PUBLIC_ROUTES, problems);
  if (problems.length) throw new BffConfigError(problems);

  return Object.freeze({
    issuer: e.BFF_ISSUER.replace(/\/$/, ''),
    clientId: e.BFF_CLIENT_ID,
    clientSecret: e.BFF_CLIENT_SECRET,
    clientAuth: e.BFF_CLIENT_AUTH,
    redirectUri: redirect.href,
    postLogoutRedirectUri: e.BFF_POST_LOGOUT_REDIRECT_URI ? new URL(e.BFF_POST_LOGOUT_REDIRECT_URI).href : undefined,
    apiBase: e.BFF_API_BASE.replace(/\/+$/, ''),
    scope: e.BFF_SCOPE.split(/\s+/).join(' '),
    resource: e.BFF_RESOURCE,
    host: e.BFF_HOST,
    port: e.BFF_PORT,
    cookieSecure: e.BFF_COOKIE_SECURE ?? https,
    allowInsecureIssuer: issuer.protocol === 'http:',
    renewBeforeSeconds: e.BFF_RENEW_BEFORE,
    sessionTtlSeconds: e.BFF_SESSION_TTL,
    apiTimeoutSeconds: e.BFF_API_TIMEOUT,
    bodyLimitBytes: e.BFF_BODY_LIMIT,
    logLevel: e.LOG_LEVEL,
    publicOrigin: redirect.origin,
    callbackPath: redirect.pathname,
    publicRoutes,
  });
}

/** `register=https://id.example.com/api/self-service/registration,reset=…` → validated entries. */
function parsePublicRoutes(value: string | undefined, problems: string[]): Array<{ name: string; target: string }> {
  if (!value) return [];
  const routes: Array<{ name: string; target: string }> = [];
  for (const entry of value.split(',').map((v) => v.trim()).filter(Boolean)) {
    const at = entry.indexOf('=');
    const name = entry.slice(0, at);
    const target = entry.slice(at + 1);
    if (at < 1 || !/^[a-z0-9-]{1,64}$/.test(name)) {
      problems.push(`BFF_PUBLIC_ROUTES: "${entry.slice(0, 80)}" must be name=URL with a name of lowercase letters, digits and "-"`);
      continue;
    }
    if (!httpUrl.safeParse(target).success || new URL(target).search) {
      problems.push(`BFF_PUBLIC_ROUTES: ${name}: must be an absolute http(s) URL without a query or fragment`);
      continue;
    }
    if (routes.some((r) => r.name === name)) {
      problems.push(`BFF_PUBLIC_ROUTES: ${name} is listed twice`);
      continue;
    }
    routes.push({ name, target: target.replace(/\/+$/, '') });
  }
  return routes;
}
