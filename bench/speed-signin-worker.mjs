// Closed-loop full password sign-ins for `npm run bench` (bench/speed.ts), on
// a worker thread: each of `connections` loops runs, as a browser without a
// session would, authorize → the sign-in page → POST username and password
// → the redirects back to the client → the code exchanged at the token
// endpoint (code + PKCE, client_secret_basic), then starts over with no
// cookies. One completed token response is one sign-in.
// Plain JavaScript on purpose: worker threads do not inherit the tsx loader.
import { parentPort, workerData } from 'node:worker_threads';
import { createHash, randomBytes } from 'node:crypto';
import { Pool } from 'undici';

const { origin, clientId, authorization, redirectUri, username, password, connections, duration } = workerData;
const pool = new Pool(origin, { connections, pipelining: 1 });
const latencies = [];
const statusCodes = {};
let errors = 0;
let firstError;

function cookieHeader(jar) {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
function keepCookies(jar, headers) {
  const set = headers['set-cookie'];
  for (const line of Array.isArray(set) ? set : set ? [set] : []) {
    const [pair] = line.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

async function call(jar, method, path, body, extra = {}) {
  const res = await pool.request({
    path, method,
    // The sign-in form is a browser's POST (with Origin); the token request is the client's server (none).
    headers: { cookie: cookieHeader(jar), ...(body ? { 'content-type': 'application/x-www-form-urlencoded', ...(extra.authorization ? {} : { origin }) } : {}), ...extra },
    body,
  });
  keepCookies(jar, res.headers);
  const text = await res.body.text();
  return { status: res.statusCode, location: res.headers.location, text };
}

async function signIn() {
  const jar = new Map();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(8).toString('base64url');
  const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid profile', state, code_challenge: challenge, code_challenge_method: 'S256' });
  let r = await call(jar, 'GET', `/oidc/auth?${q}`);
  if (r.status !== 303 && r.status !== 302) throw new Error(`authorize: ${r.status} ${r.text.slice(0, 200)}`);
  const page = new URL(r.location, origin);
  r = await call(jar, 'GET', page.pathname + page.search);
  const action = /<form[^>]+action="([^"]*\/login)"/.exec(r.text)?.[1];
  if (r.status !== 200 || !action) throw new Error(`sign-in page: ${r.status} ${r.text.slice(0, 200)}`);
  r = await call(jar, 'POST', action.replace(/&#(\d+);/g, (_m, c) => String.fromCharCode(Number(c))), new URLSearchParams({ username, password }).toString());
  // Follow the redirects (resume at the engine) until the client's redirect URI.
  for (let hops = 0; hops < 6 && r.location && !r.location.startsWith(redirectUri); hops++) {
    const next = new URL(r.location, origin);
    r = await call(jar, 'GET', next.pathname + next.search);
  }
  if (!r.location?.startsWith(redirectUri)) throw new Error(`no code: ${r.status} ${r.text.slice(0, 200)}`);
  const code = new URL(r.location).searchParams.get('code');
  r = await call(jar, 'POST', '/oidc/token', new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }).toString(), { authorization });
  statusCodes[r.status] = (statusCodes[r.status] ?? 0) + 1;
  if (r.status !== 200) throw new Error(`token: ${r.status} ${r.text.slice(0, 200)}`);
}

async function loop(end) {
  while (Date.now() < end) {
    const started = performance.now();
    try {
      await signIn();
      latencies.push(performance.now() - started);
    } catch (err) {
      errors++;
      firstError ??= String(err?.message ?? err);
      if (errors > 20) return;
    }
  }
}

const started = performance.now();
const end = Date.now() + duration * 1000;
await Promise.all(Array.from({ length: connections }, () => loop(end)));
const seconds = (performance.now() - started) / 1000;
await pool.close();
parentPort.postMessage({ latencies, statusCodes, errors, firstError, seconds, requests: latencies.length });
