/**
 * `npm run bench:statements`: lists, in order, every SQL statement Tessera
 * runs for one refresh with rotation, one UserInfo request, one introspection and one full password sign-in
 * (authorize → form → code → token), each step of the sign-in on its own,
 * with the transaction boundaries on PostgreSQL. What bench/query-counter.ts
 * counts, spelled out, to find repeats and writes that could be merged
 * (issue 20, docs/performance.md). In-process (bench/targets.ts): SQLite by
 * default, PostgreSQL with BENCH_DATABASE_URL or TEST_DATABASE_URL.
 * `BENCH_SQL=1` prints each statement's SQL text as well.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { Server } from 'node:http';
import pg from 'pg';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { startTessera } from './targets.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
const USER = { username: 'bench-user', password: 'bench user password, long enough' };
const REDIRECT = 'http://127.0.0.1:9/cb';
const SHOW_SQL = process.env.BENCH_SQL === '1';

const trace: string[] = [];
let recording = false;

// Only what a request causes (its own statements and whatever it starts without awaiting),
// not the background jobs (change polling, leases, outboxes) that happen to run meanwhile.
const inRequest = new AsyncLocalStorage<true>();
const emit = Server.prototype.emit as (this: Server, event: string, ...args: unknown[]) => boolean;
Server.prototype.emit = function emitInRequest(this: Server, event: string, ...args: unknown[]) {
  return event === 'request' ? inRequest.run(true, () => emit.call(this, event, ...args)) : emit.call(this, event, ...args);
} as never;

// PostgreSQL: every round trip, BEGIN and COMMIT included (Kysely's plugins do not see them).
const pgQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function tracedQuery(this: unknown, ...args: unknown[]) {
  if (recording) {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text ?? '?';
    if (/^(begin|commit|rollback|savepoint|release)/i.test(text.trim())) trace.push(`  -- ${text.trim().toLowerCase()}`);
  }
  return pgQuery.apply(this, args);
} as never;

class Tracer implements KyselyPlugin {
  constructor(private readonly compile: (node: RootOperationNode) => { sql: string; parameters: readonly unknown[] }) {}
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (recording && inRequest.getStore()) {
      const { sql, parameters } = this.compile(args.node);
      // The engine's models (CamelCase names among the parameters) say which artefacts an oidc_payloads statement is about.
      const models = /oidc_payloads/.test(sql) ? [...new Set(parameters.filter((x): x is string => typeof x === 'string' && /^(?:[A-Z][a-z]+)+$/.test(x)))] : [];
      const model = models.length ? ` ${models.join(', ')}` : '';
      trace.push(SHOW_SQL ? `  ${sql}` : `  ${summary(sql)}${model}`);
    }
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** "select users", "insert audit_events"… from the SQL text. */
function summary(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  const verb = t.split(' ')[0]!.toLowerCase();
  const table = verb === 'insert' ? /into "?(\w+)"?/i.exec(t)?.[1]
    : verb === 'update' ? /^update "?(\w+)"?/i.exec(t)?.[1]
      : /from "?(\w+)"?/i.exec(t)?.[1];
  const where = /where (.*?)(?: order by| limit| returning| on conflict|$)/i.exec(t)?.[1]?.replace(/"/g, '').slice(0, 90);
  return `${verb} ${table ?? '?'}${where ? `  [${where}]` : ''}${/on conflict/i.test(t) ? '  (upsert)' : ''}`;
}

function cookies(jar: Map<string, string>, res: Response): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i).trim();
    const value = pair!.slice(i + 1).trim();
    if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

async function main(): Promise<void> {
  let tracer: Tracer | undefined;
  const t = await startTessera({
    clients: [
      { client_id: 'bench-rp', client_secret: SECRET, grant_types: ['password', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid offline_access profile' },
      { client_id: 'bench-web', client_secret: SECRET, grant_types: ['authorization_code'], redirect_uris: [REDIRECT], first_party: true, token_endpoint_auth_method: 'client_secret_basic', scope: 'openid profile' },
    ],
    users: [{ ...USER, email: 'bench-user@example.test', email_verified: true, given_name: 'Bench', family_name: 'User' }],
    plugin: (db) => {
      tracer = new Tracer((node) => db.getExecutor().compileQuery(node, { queryId: 'trace' } as never));
      return tracer;
    },
  });
  const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;
  const steps: { name: string; statements: string[] }[] = [];
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    trace.length = 0;
    recording = true;
    try {
      return await fn();
    } finally {
      // Writes after the answer (fire-and-forget) land before the next step starts.
      await new Promise((r) => setTimeout(r, 150));
      recording = false;
      steps.push({ name, statements: [...trace] });
    }
  };
  try {
    console.log(`storage: ${t.storage}`);
    const token = async (form: Record<string, string>, client = 'bench-rp') => {
      const res = await fetch(t.origin + t.tokenPath, { method: 'POST', headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
      const body = await res.json() as Record<string, string>;
      if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    // Warm: the first request of each kind fills caches (clients, keys, policies) that later requests reuse.
    for (let i = 0; i < 2; i++) {
      const first = await token({ grant_type: 'password', ...USER, scope: 'openid offline_access profile' });
      await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token! });
      await signIn(false);
    }
    const fam = await token({ grant_type: 'password', ...USER, scope: 'openid offline_access profile' });
    await step('refresh with rotation (POST /oidc/token)', () => token({ grant_type: 'refresh_token', refresh_token: fam.refresh_token! }));
    await step('UserInfo (GET /oidc/me)', async () => {
      const res = await fetch(`${t.origin}/oidc/me`, { headers: { authorization: `Bearer ${fam.access_token}` } });
      if (res.status !== 200) throw new Error(`UserInfo: ${res.status} ${await res.text()}`);
    });
    // Without token_type_hint: the engine looks the token up as an access token, a client-credentials token and a refresh token at once.
    await step('introspection (POST /oidc/token/introspection, no hint)', async () => {
      const res = await fetch(`${t.origin}${t.tokenPath}/introspection`, {
        method: 'POST', headers: { authorization: basic('bench-rp'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: fam.access_token! }).toString(),
      });
      const body = await res.json() as { active?: boolean };
      if (res.status !== 200 || !body.active) throw new Error(`introspection: ${res.status} ${JSON.stringify(body)}`);
    });
    await signIn(true);

    let total = 0;
    for (const s of steps) {
      console.log(`\n${s.name}: ${s.statements.filter((x) => !x.startsWith('  --')).length} statements`);
      console.log(s.statements.join('\n'));
      if (s.name.startsWith('sign-in')) total += s.statements.filter((x) => !x.startsWith('  --')).length;
    }
    console.log(`\nsign-in in all: ${total} statements`);
  } finally {
    await t.close();
  }

  async function signIn(record: boolean): Promise<void> {
    const run = <T>(name: string, fn: () => Promise<T>) => (record ? step(`sign-in: ${name}`, fn) : fn());
    const jar = new Map<string, string>();
    const call = async (method: string, path: string, body?: string, extra: Record<string, string> = {}) => {
      const res = await fetch(t.origin + path, {
        method, redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded', ...(extra.authorization ? {} : { origin: t.origin }) } : {}), ...extra },
        body,
      });
      cookies(jar, res);
      return { status: res.status, location: res.headers.get('location') ?? undefined, text: await res.text() };
    };
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const q = new URLSearchParams({ client_id: 'bench-web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile', state: 'xyz', code_challenge: challenge, code_challenge_method: 'S256' });
    let r = await run('GET /oidc/auth', () => call('GET', `/oidc/auth?${q}`));
    const page = new URL(r.location!, t.origin);
    r = await run(`GET ${page.pathname.replace(/[^/]{12,}/g, ':uid')}`, () => call('GET', page.pathname + page.search));
    const action = /<form[^>]+action="([^"]*\/login)"/.exec(r.text)?.[1];
    if (!action) throw new Error(`no sign-in form: ${r.status} ${r.text.slice(0, 300)}`);
    const target = action.replace(/&#(\d+);/g, (_m, c) => String.fromCharCode(Number(c)));
    r = await run(`POST ${target.replace(/[^/]{12,}/g, ':uid')}`, () => call('POST', target, new URLSearchParams(USER).toString()));
    for (let hops = 0; hops < 6 && r.location && !r.location.startsWith(REDIRECT); hops++) {
      const next = new URL(r.location, t.origin);
      r = await run(`GET ${next.pathname.replace(/[^/]{12,}/g, ':uid')}`, () => call('GET', next.pathname + next.search));
    }
    if (!r.location?.startsWith(REDIRECT)) throw new Error(`no code: ${r.status} ${r.text.slice(0, 300)}`);
    const code = new URL(r.location).searchParams.get('code')!;
    await run('POST /oidc/token (code)', () => call('POST', '/oidc/token', new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(), { authorization: basic('bench-web') }));
  }
}

main().catch((err: unknown) => {
  console.error('statement trace failed:', err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
