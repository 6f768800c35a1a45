/**
 * `npm run bench:federation` (part of `npm run bench`): a federated sign-in
 * through an upstream OpenID Connect provider next to a local password
 * sign-in, in the same run against the same Tessera (docs/federation.md).
 *
 * Each sign-in starts with no cookies, as a new browser: authorize → the
 * sign-in page → (local) POST username and password, or (federated) the
 * provider's button → the upstream's authorization endpoint → its sign-in
 * (the upstream is a bare oidc-provider on this machine whose interaction
 * signs the returning user in at once) → Tessera's callback (code exchange
 * at the upstream, ID token checks) → back to the client → the code
 * exchanged at Tessera's token endpoint. The federated user already has a
 * link (a returning person). Federated twice: Tessera authenticating at the
 * upstream with a client secret, and with private_key_jwt (a signed
 * assertion with the key Tessera holds; the upstream verifies it against
 * Tessera's JWKS URL, cached). Closed loops of `BENCH_CONNECTIONS`, interleaved
 * rounds; the table gives sign-ins per second, the ratio to the local sign-in
 * and latencies. Tessera, the upstream and the loops share this process: the
 * ratio is what this machine does, not a per-core figure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { startUpstream, Browser, UPSTREAM_CLIENT } from '../packages/server/test/helpers/upstream.js';
import { freePort } from '../packages/server/test/helpers/app.js';
import { startTessera } from './targets.js';
import type { TesseraTarget } from './targets.js';
import { CONNECTIONS, DURATION, ROUNDS, WARMUP } from './settings.js';

const SECRET = 'bench-federation-secret-0123456789-abcdefgh';
const REDIRECT = 'http://127.0.0.1:9/cb';
const LOCAL = { username: 'local-user', password: 'a long enough local password' };
const FED = { sub: 'bench-upstream-user', email: 'fed-user@corp.test', email_verified: true, name: 'Fed User', groups: ['staff'] };
const basic = `Basic ${Buffer.from(`bench-web:${SECRET}`).toString('base64')}`;

/** One sign-in from a new browser; resolves when the token endpoint answered 200. */
type Kind = 'local' | 'fed' | 'fedKey';
const ALIAS = { fed: 'corp', fedKey: 'corp-key' } as const;

async function signIn(t: TesseraTarget, kind: Kind): Promise<void> {
  const federated = kind !== 'local';
  const browser = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    client_id: 'bench-web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: randomBytes(8).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const start = new URL(`${t.origin}/oidc/auth?${q}`);
  const page = await browser.run(await browser.get(start), start.href, REDIRECT);
  if (!page.page || page.page.status !== 200) throw new Error(`sign-in page: ${page.page?.status}`);
  const html = await page.page.text();
  let done;
  if (federated) {
    const href = new RegExp(`href="([^"]+/federation/${ALIAS[kind]}/start)"`).exec(html)?.[1];
    if (!href) throw new Error('no provider button on the sign-in page');
    const url = new URL(href.replace(/&amp;/g, '&'), t.origin);
    done = await browser.run(await browser.get(url), url.href, REDIRECT);
  } else {
    const action = /<form[^>]+action="([^"]*\/login)"/.exec(html)?.[1];
    if (!action) throw new Error('no sign-in form');
    const url = new URL(action.replace(/&amp;/g, '&'), page.url);
    done = await browser.run(await browser.post(url, LOCAL), url.href, REDIRECT);
  }
  const code = done.callback?.searchParams.get('code');
  if (!code) throw new Error(`no code (${federated ? 'federated' : 'local'}): ${done.page ? `${done.page.status} ${(await done.page.text()).slice(0, 200)}` : done.url}`);
  const res = await fetch(`${t.origin}/oidc/token`, {
    method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
}

async function loops(t: TesseraTarget, kind: Kind, seconds: number): Promise<{ rate: number; latencies: number[] }> {
  const latencies: number[] = [];
  const end = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      await signIn(t, kind);
      latencies.push(performance.now() - t0);
    }
  }));
  return { rate: latencies.length / ((Date.now() - started) / 1000), latencies };
}

const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN;
const median = (xs: number[]) => pct(xs, 0.5);

async function main(): Promise<void> {
  const upstreamPort = await freePort();
  const t = await startTessera({
    clients: [{ client_id: 'bench-web', client_secret: SECRET, grant_types: ['authorization_code'], redirect_uris: [REDIRECT], first_party: true, scope: 'openid' }],
    users: [{ ...LOCAL, email: 'local-user@example.test', email_verified: true }],
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
    config: {
      roles: [{ name: 'staff', tenant: 'default' }],
      identity_providers: [{
        alias: 'corp', type: 'oidc', display_name: 'Corp', issuer: `http://localhost:${upstreamPort}`, client_id: UPSTREAM_CLIENT.id,
        client_secret: UPSTREAM_CLIENT.secret, scopes: ['openid', 'email', 'profile', 'groups'], jit: 'create', trust_email_verified: true,
        group_mappings: [{ group: 'staff', roles: ['staff'] }],
      }, {
        alias: 'corp-key', type: 'oidc', display_name: 'Corp key', issuer: `http://localhost:${upstreamPort}`, client_id: 'tessera-key',
        client_auth: 'private_key_jwt', scopes: ['openid', 'email', 'profile', 'groups'], jit: 'create', trust_email_verified: true,
        // The same upstream person as through `corp`: without its email here, it becomes a second account instead of a link to prove.
        claim_mapping: { email: 'no_such_claim' }, required_claims: [],
      }],
    },
  });
  const upstream = await startUpstream([`${t.origin}/federation/corp/callback`], upstreamPort, {
    always: FED,
    clients: [{
      client_id: 'tessera-key', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${t.origin}/federation/corp-key/jwks`,
      redirect_uris: [`${t.origin}/federation/corp-key/callback`], grant_types: ['authorization_code'], response_types: ['code'],
    }],
  });
  const kinds: Kind[] = ['local', 'fed', 'fedKey'];
  try {
    // The first federated sign-ins create the user and its links: a returning person from then on.
    for (const kind of ['fed', 'fedKey', 'local'] as const) await signIn(t, kind);
    if (WARMUP > 0) {
      for (const kind of kinds) await loops(t, kind, WARMUP);
    }
    const seconds = Math.max(1, DURATION / ROUNDS);
    const rates: Record<Kind, number[]> = { local: [], fed: [], fedKey: [] };
    const lat: Record<Kind, number[]> = { local: [], fed: [], fedKey: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
        const r = await loops(t, kind, seconds);
        rates[kind].push(r.rate);
        lat[kind].push(...r.latencies);
      }
    }
    const local = median(rates.local);
    console.log(`Federated sign-in next to a local password sign-in: ${t.storage}; ${ROUNDS} rounds × ${seconds} s, ${CONNECTIONS} connections; Tessera, the upstream and the load in one process.`);
    console.log('| sign-in | per second (median of rounds) | ratio to local | p50 / p99 ms |');
    console.log('|---|---|---|---|');
    for (const [name, key] of [['local password (argon2id)', 'local'], ['federated (upstream OpenID Connect, returning user)', 'fed'],
      ['federated, private_key_jwt at the upstream', 'fedKey']] as const) {
      const m = median(rates[key]);
      console.log(`| ${name} | ${m.toFixed(1)} | **${(m / local).toFixed(2)}** | ${pct(lat[key], 0.5).toFixed(1)} / ${pct(lat[key], 0.99).toFixed(1)} |`);
    }
  } finally {
    await upstream.close();
    await t.close();
  }
}

await main();
