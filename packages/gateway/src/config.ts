import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CIDR_MESSAGE, parseCidr } from './cidr.js';
import type { ProxyTrust } from './ip-policy.js';

/**
 * The gateway's configuration: the environment (process settings, secrets)
 * plus a declarative YAML/JSON file (GATEWAY_CONFIG) holding the routes.
 * Parsed once at boot, validated with one zod schema, frozen. Every message is
 * written for the person editing the file and names the path of the problem.
 */

/** A configuration problem, reported as `path: message` lines before anything starts. */
export class GatewayConfigError extends Error {
  constructor(readonly problems: string[], source: string) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'GatewayConfigError';
  }
}

/** `['routes', 2, 'scopes', 0]` → `routes[2].scopes[0]` (same formatter as the platform's config). */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) =>
    typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part), '');
}

export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = formatPath(issue.path) || '(root)';
    if (issue.code === 'unrecognized_keys') return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    if (issue.code === 'invalid_type') {
      return /received undefined/.test(issue.message) ? `${where}: is required` : `${where}: must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    }
    return `${where}: ${issue.message}`;
  });
}

const httpUrl = (what: string) => z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.hash && !u.search && !u.username && !u.password;
  } catch {
    return false;
  }
}, `must be an http(s) ${what} without query, fragment or credentials`);

const absoluteUri = z.string().refine((v) => {
  try {
    return Boolean(new URL(v).protocol) && !v.includes('#');
  } catch {
    return false;
  }
}, 'must be an absolute URI without a fragment');

const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token (RFC 6749 §3.3)');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 letters, digits, ".", "_", ":" or "-"');
/** Values that end up inside a quoted WWW-Authenticate parameter: no quotes, backslashes or controls. */
const acrValue = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/, 'must be an ACR value (printable ASCII, no spaces, quotes or backslashes)');
const seconds = (max: number) => z.number().min(0, 'must not be negative').max(max, `must be at most ${max} seconds`);
const origin = z.string().refine((v) => {
  if (v === '*') return true;
  try {
    return new URL(v).origin === v;
  } catch {
    return false;
  }
}, 'must be "*" or an origin such as https://app.example.com (scheme, host, optional port; no path)');
const cidr = z.string().refine((v) => parseCidr(v) !== undefined, CIDR_MESSAGE);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const method = z.string().transform((m) => m.toUpperCase()).pipe(z.enum(METHODS, `must be one of ${METHODS.join(', ')}`));
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name').transform((h) => h.toLowerCase());

/** Paths the gateway answers itself; no route may shadow them. */
export const RESERVED_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export const routeSchema = z.strictObject({
  prefix: z.string()
    .regex(/^\/([A-Za-z0-9._~!$&'()*+,;=:@-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*)?$/, 'must be a path such as /orders or /api/v1 (no trailing slash, no "." or ".." segments, no percent-encoding)')
    .refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'must not contain "." or ".." segments'),
  upstream: httpUrl('URL'),
  /** Only these methods match this route; another route with the same prefix may take the others. */
  methods: z.array(method).min(1).optional(),
  /** The `aud` the token must carry (RFC 8707 resource indicator); defaults to the top-level audience. */
  audience: absoluteUri.optional(),
  /** Every listed scope must be granted (RFC 6750 §3.1 insufficient_scope otherwise). */
  scopes: z.array(scopeToken).default([]),
  /** At least one of these roles (the token's `roles` claim) is required. */
  roles: z.array(name).default([]),
  /** Minimum authentication context class; compared through `acr_levels` (RFC 9470 step-up). */
  acr: acrValue.optional(),
  /** The user must have signed in at most this many seconds ago (the token's auth_time; RFC 9470 max_age). */
  max_age: z.number().int('must be a whole number of seconds').positive('must be positive').max(366 * 24 * 3600).optional(),
  /** Only these client_ids may call the route. */
  clients: z.array(name).min(1).optional(),
  /** Only callers from these addresses (CIDR blocks) may call the route: 403 ip_not_allowed otherwise (docs/b2b.md#ip-policy). */
  allowed_ips: z.array(cidr).min(1, 'must list at least one CIDR block (leave allowed_ips out to allow any address)').max(1000).optional(),
  /** Ask the issuer (RFC 7662) on every request, so revocation takes effect at once (within cache_ttl). */
  introspect: z.boolean().default(false),
  rate_limit: z.strictObject({
    per_client_per_minute: z.number().int('must be a whole number').positive('must be positive').max(1_000_000),
  }).optional(),
  cors: z.strictObject({
    origins: z.array(origin).min(1, 'must list at least one origin'),
    methods: z.array(method).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
    headers: z.array(headerName).default(['authorization', 'content-type']),
    expose_headers: z.array(headerName).default([]),
    credentials: z.boolean().default(false),
    max_age: seconds(86400).default(600),
  }).optional(),
  /** No token needed; context headers are still stripped and none are added. */
  public: z.boolean().default(false),
  /** Pass the client's Authorization header upstream (off by default: backends get the context headers). */
  forward_token: z.boolean().default(false),
  /** Remove the prefix before forwarding (`/api/orders/1` with prefix `/api` → `/orders/1`). */
  strip_prefix: z.boolean().default(false),
  /** Seconds the upstream may take to start answering, and between body chunks (undici's timers tick at ~1 s). */
  timeout: seconds(600).min(1, 'must be at least 1 second').default(30),
}).superRefine((r, ctx) => {
  if (RESERVED_PATHS.some((p) => r.prefix === p || r.prefix.startsWith(`${p}/`))) {
    ctx.addIssue({ code: 'custom', path: ['prefix'], message: `must not be one of the gateway's own paths (${RESERVED_PATHS.join(', ')})` });
  }
  if (r.public && (r.scopes.length || r.roles.length || r.acr || r.max_age || r.clients || r.introspect || r.rate_limit || r.forward_token)) {
    ctx.addIssue({ code: 'custom', path: ['public'], message: 'a public route takes no token, so it cannot have scopes, roles, acr, max_age, clients, introspect, rate_limit or forward_token' });
  }
  if (r.cors?.credentials && r.cors.origins.includes('*')) {
    ctx.addIssue({ code: 'custom', path: ['cors', 'origins'], message: 'must list explicit origins when credentials is true' });
  }
});

export const fileSchema = z.strictObject({
  /** The token issuer (Tessera's TESSERA_ISSUER); TESSERA_ISSUER in the environment wins. */
  issuer: httpUrl('issuer URL').optional(),
  /** Default `aud` for routes without their own; GATEWAY_AUDIENCE in the environment wins. */
  audience: absoluteUri.optional(),
  /** JWS algorithms accepted on access tokens; `none` and HMAC are never accepted. */
  algorithms: z.array(z.enum(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'], 'must be RS256, PS256, ES256, ES384 or EdDSA')).min(1).default(['RS256', 'ES256']),
  /** Leeway for exp/nbf/iat, in seconds. */
  clock_tolerance: seconds(60).default(5),
  /** Accepted `typ` header (RFC 9068 access tokens are `at+jwt`); an ID token is refused. */
  token_type: z.string().min(1).default('at+jwt'),
  jwks: z.strictObject({
    /** An unknown `kid` refetches the JWKS at most once per this many seconds. */
    cooldown: seconds(300).min(1, 'must be at least 1 second (it bounds the requests a flood of unknown kids can cause)').default(5),
    /** Refetch in the background this often, so removed keys stop verifying. */
    max_age: seconds(86400).min(10, 'must be at least 10 seconds').default(600),
  }).default({ cooldown: 5, max_age: 600 }),
  /** Verified tokens are remembered (by their exact text) so the signature is checked once. */
  token_cache: z.strictObject({
    max_age: seconds(300).default(30),
    max_entries: z.number().int().min(0).max(1_000_000).default(10_000),
  }).default({ max_age: 30, max_entries: 10_000 }),
  introspection: z.strictObject({
    /** How long an introspection answer is reused (≤ 5 s: revocation must take effect promptly). */
    cache_ttl: seconds(5).default(3),
    timeout: seconds(60).positive().default(5),
  }).default({ cache_ttl: 3, timeout: 5 }),
  /** ACR values from weakest to strongest: a route asking for one accepts any stronger one too. */
  acr_levels: z.array(acrValue).default(['urn:tessera:acr:pwd', 'urn:tessera:acr:mfa']),
  limits: z.strictObject({
    /** Larger request headers are answered 431 before any work is done. */
    max_header_bytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
    /** Longer bearer tokens are refused (401) without being parsed. */
    max_token_bytes: z.number().int().min(256).max(64 * 1024).default(8 * 1024),
  }).default({ max_header_bytes: 16 * 1024, max_token_bytes: 8 * 1024 }),
  upstream: z.strictObject({
    /** Keep-alive connections per upstream origin. */
    connections: z.number().int().positive().max(10_000).default(128),
    keep_alive_timeout: seconds(600).positive().default(30),
  }).default({ connections: 128, keep_alive_timeout: 30 }),
  routes: z.array(routeSchema).min(1, 'must declare at least one route'),
}).superRefine((c, ctx) => {
  c.routes.forEach((r, i) => {
    const other = c.routes.findIndex((o, j) => j < i && o.prefix === r.prefix && overlaps(o.methods, r.methods));
    if (other !== -1) ctx.addIssue({ code: 'custom', path: ['routes', i, 'prefix'], message: `duplicates routes[${other}] (same prefix, overlapping methods)` });
    if (r.acr && !c.acr_levels.includes(r.acr)) {
      ctx.addIssue({ code: 'custom', path: ['routes', i, 'acr'], message: `must be one of acr_levels (${c.acr_levels.join(', ')})` });
    }
  });
});

/** Two method lists overlap if either is absent (all methods) or they share one. */
function overlaps(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return !a || !b || a.some((m) => b.includes(m));
}

/**
 * GATEWAY_TRUST_PROXY: `true` (one proxy in front, whatever its address),
 * `false`, or the proxies' CIDR blocks separated by commas (only those peers'
 * X-Forwarded-For counts; ip-policy.ts).
 */
const trustProxy = z.string().transform((v, ctx) => {
  const t = v.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(t)) return { enabled: true, proxies: undefined };
  if (['false', '0', 'no', ''].includes(t)) return { enabled: false, proxies: undefined };
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.find((c) => !parseCidr(c));
  if (bad !== undefined) {
    ctx.addIssue({ code: 'custom', message: `must be true, false, or the trusted proxies' CIDR blocks separated by commas ("${bad}" ${CIDR_MESSAGE})` });
    return z.NEVER;
  }
  return { enabled: true, proxies: list };
});

export const envSchema = z.object({
  GATEWAY_CONFIG: z.string().min(1, 'must name the routes file (YAML or JSON)'),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  GATEWAY_HOST: z.string().default('0.0.0.0'),
  TESSERA_ISSUER: httpUrl('issuer URL').optional(),
  GATEWAY_AUDIENCE: absoluteUri.optional(),
  /** The gateway's own confidential client at the issuer, for introspection. */
  GATEWAY_CLIENT_ID: z.string().min(1).optional(),
  GATEWAY_CLIENT_SECRET: z.string().min(1).optional(),
  /** Sent upstream as `x-tessera-gateway-secret`, so backends can tell the gateway from anyone else. */
  GATEWAY_UPSTREAM_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Behind a trusted load balancer: append to X-Forwarded-For instead of replacing it, and read the caller's address from it. */
  GATEWAY_TRUST_PROXY: trustProxy.optional(),
  /** The origin clients address the gateway by (DPoP proofs name it in `htu`); unset: the Host header. */
  GATEWAY_PUBLIC_URL: httpUrl('URL').optional(),
  /** Redis for state every instance shares: the DPoP proof replay cache. Unset: per instance, in memory. */
  GATEWAY_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type RouteConfig = z.infer<typeof routeSchema>;
export type FileConfig = z.infer<typeof fileSchema>;

/** Everything the gateway needs at boot, parsed once and frozen. */
export interface GatewaySettings extends Omit<FileConfig, 'issuer' | 'audience'> {
  port: number;
  host: string;
  issuer: string;
  audience: string | undefined;
  introspectionClient: { id: string; secret: string } | undefined;
  upstreamSecret: string | undefined;
  /** Some proxy is trusted (GATEWAY_TRUST_PROXY not false). */
  trustProxy: boolean;
  /** Which peers' X-Forwarded-For counts (ip-policy.ts). */
  proxyTrust: ProxyTrust;
  /** Origin of GATEWAY_PUBLIC_URL, if set. */
  publicOrigin: string | undefined;
  redisUrl: string | undefined;
  logLevel: string;
}

/**
 * Reads the environment and the routes file.
 * @throws GatewayConfigError listing every problem as `path: message`.
 */
export function loadGatewaySettings(env: NodeJS.ProcessEnv = process.env, file?: unknown): Readonly<GatewaySettings> {
  const parsedEnv = envSchema.safeParse(file === undefined ? env : { GATEWAY_CONFIG: '(inline)', ...env });
  if (!parsedEnv.success) throw new GatewayConfigError(formatIssues(parsedEnv.error), 'the environment');
  const e = parsedEnv.data;
  const source = file === undefined ? resolve(e.GATEWAY_CONFIG) : 'inline configuration';
  const raw = file === undefined ? readConfigFile(source) : file;
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new GatewayConfigError(formatIssues(parsed.error), source);
  const { issuer: fileIssuer, audience: fileAudience, ...rest } = parsed.data;
  const issuer = e.TESSERA_ISSUER ?? fileIssuer;
  const audience = e.GATEWAY_AUDIENCE ?? fileAudience;
  const problems: string[] = [];
  if (!issuer) problems.push('issuer: is required (set TESSERA_ISSUER or `issuer` in the file)');
  rest.routes.forEach((r, i) => {
    if (!r.public && !r.audience && !audience) problems.push(`routes[${i}].audience: is required (or set the top-level audience or GATEWAY_AUDIENCE)`);
  });
  if (rest.routes.some((r) => r.introspect) && !(e.GATEWAY_CLIENT_ID && e.GATEWAY_CLIENT_SECRET)) {
    problems.push('routes: a route has introspect: true, so GATEWAY_CLIENT_ID and GATEWAY_CLIENT_SECRET must be set');
  }
  if (problems.length || !issuer) throw new GatewayConfigError(problems, source);
  const settings: GatewaySettings = {
    ...rest,
    port: e.GATEWAY_PORT,
    host: e.GATEWAY_HOST,
    issuer: issuer.replace(/\/$/, ''),
    audience,
    introspectionClient: e.GATEWAY_CLIENT_ID && e.GATEWAY_CLIENT_SECRET ? { id: e.GATEWAY_CLIENT_ID, secret: e.GATEWAY_CLIENT_SECRET } : undefined,
    upstreamSecret: e.GATEWAY_UPSTREAM_SECRET,
    trustProxy: e.GATEWAY_TRUST_PROXY?.enabled ?? false,
    proxyTrust: e.GATEWAY_TRUST_PROXY ?? { enabled: false, proxies: undefined },
    publicOrigin: e.GATEWAY_PUBLIC_URL ? new URL(e.GATEWAY_PUBLIC_URL).origin : undefined,
    redisUrl: e.GATEWAY_REDIS_URL,
    logLevel: e.LOG_LEVEL,
  };
  return deepFreeze(settings);
}

/** @throws GatewayConfigError when the file cannot be read or is not YAML/JSON. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayConfigError([`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], path);
  }
  try {
    return parseYaml(text, { uniqueKeys: true }) ?? {};
  } catch (err) {
    throw new GatewayConfigError([`not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`], path);
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
