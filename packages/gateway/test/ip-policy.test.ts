/**
 * IP policy at the gateway (issue 16, item 4; docs/b2b.md#ip-policy). The
 * issue's peer test: a partner script bound to 127.0.0.2 uses the password
 * grant and calls the API through the gateway (200); the same token from
 * 127.0.0.3 is refused at the gateway (403 ip_not_allowed); another user's
 * password through this client is invalid_grant; a scope the client was not
 * granted is invalid_scope. Also: a route's allowed_ips, X-Forwarded-For
 * only from trusted proxies, the metric, and the configuration checks.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Agent, fetch as undiciFetch } from 'undici';
import type { TestApp } from '../../server/test/helpers/app.js';
import { ALICE, BOB, GATEWAY_SECRET, RECORDS_API, WORKER_SECRET, clientToken, jwtParts, platformConfig, startEcho, startGateway, startPlatform } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';
import { GatewayConfigError, loadGatewaySettings } from '../src/config.js';
import { clientAddress } from '../src/ip-policy.js';
import { contextFromClaims } from '../src/token.js';

const PARTNER_SECRET = 'partner-secret-0123456789-abcdefghijklmn';
/** An API with opaque access tokens: the gateway learns the client's list from introspection. */
const LEDGER_API = 'https://ledger.example.test';

let t: TestApp;
let echo: Echo;
let gw: StartedGateway;
/** The same routes behind a load balancer at 127.0.0.5 (GATEWAY_TRUST_PROXY lists it). */
let behindProxy: StartedGateway;
/** A route with introspect: true, for the ledger API's opaque tokens. */
let introspecting: StartedGateway;
const agents = new Map<string, Agent>();

/** An HTTP agent whose sockets leave from `localAddress`: the partner's machine, as the servers see it. */
function from(localAddress: string): Agent {
  let a = agents.get(localAddress);
  if (!a) agents.set(localAddress, a = new Agent({ localAddress }));
  return a;
}

beforeAll(async () => {
  t = await startPlatform({
    ...platformConfig,
    apis: [...platformConfig.apis, { identifier: LEDGER_API, name: 'Ledger API', scopes: ['ledger:read'], access_token_format: 'opaque', access_token_ttl: 600 }],
    clients: [
      ...platformConfig.clients,
      // A legacy partner integration: password grant, bound to its one user, callable from its one address.
      {
        client_id: 'legacy-partner', client_secret: PARTNER_SECRET, token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['password'], scope: 'records:read ledger:read', allowed_users: ['alice'], ip_allowlist: ['127.0.0.2/32'],
      },
    ],
  });
  echo = await startEcho();
  const routes = [
    { prefix: '/partner', upstream: echo.url, scopes: ['records:read'] },
    { prefix: '/office', upstream: echo.url, allowed_ips: ['127.0.0.4/32', '10.0.0.0/8'] },
  ];
  gw = await startGateway({ issuer: t.issuer, audience: RECORDS_API, routes });
  behindProxy = await startGateway({ issuer: t.issuer, audience: RECORDS_API, routes }, { GATEWAY_TRUST_PROXY: '127.0.0.5/32' });
  introspecting = await startGateway({ issuer: t.issuer, audience: LEDGER_API, routes: [{ prefix: '/ledger', upstream: echo.url, introspect: true, scopes: ['ledger:read'] }] },
    { GATEWAY_CLIENT_ID: 'gateway', GATEWAY_CLIENT_SECRET: GATEWAY_SECRET });
});
afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.close()));
  await introspecting?.close();
  await behindProxy?.close();
  await gw?.close();
  await echo?.close();
  await t?.close();
});

/** The partner's password grant, sent from `address`. */
async function passwordGrant(address: string, form: Record<string, string>) {
  const res = await undiciFetch(`${t.issuer}/oidc/token`, {
    method: 'POST',
    dispatcher: from(address),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`legacy-partner:${PARTNER_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'password', resource: RECORDS_API, ...form }),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

/** A call through a gateway, sent from `address`. */
async function callFrom(address: string, base: string, path: string, token?: string, headers: Record<string, string> = {}) {
  const res = await undiciFetch(base + path, {
    dispatcher: from(address),
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function refusals(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^tessera_gateway_ip_refusals_total\{source="(\w+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('the partner script (password grant) and the gateway', () => {
  test('from 127.0.0.2: token, then the API through the gateway answers 200; the same token from 127.0.0.3: 403 ip_not_allowed', async () => {
    const granted = await passwordGrant('127.0.0.2', { ...ALICE, scope: 'records:read' });
    expect(granted.status).toBe(200);
    const token = granted.body.access_token as string;
    // Tessera copies the client's allowlist into the token: that is how it reaches every gateway instance.
    expect(jwtParts(token).payload.ip_allowlist).toEqual(['127.0.0.2/32']);

    const ok = await callFrom('127.0.0.2', gw.url, '/partner/orders', token);
    expect(ok.status).toBe(200);
    expect((ok.json.headers as Record<string, string>)['x-tessera-client']).toBe('legacy-partner');

    const before = echo.seen.length;
    const refused = await callFrom('127.0.0.3', gw.url, '/partner/orders', token);
    expect(refused).toEqual({ status: 403, json: { error: 'ip_not_allowed', error_description: 'Calls from this address are not allowed.' } });
    expect(echo.seen.length).toBe(before);
    expect((await refusals(gw.url)).client).toBeGreaterThanOrEqual(1);
  });

  test("another user's password through this client is invalid_grant; a scope it was not granted is invalid_scope", async () => {
    expect(await passwordGrant('127.0.0.2', { ...BOB, scope: 'records:read' }))
      .toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'the username or password is incorrect' } });
    const wider = await passwordGrant('127.0.0.2', { ...ALICE, scope: 'records:read records:write' });
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe('invalid_scope');
    expect(wider.body).not.toHaveProperty('access_token');
  });

  test('the token endpoint refuses the client from 127.0.0.3 too (invalid_client)', async () => {
    const res = await passwordGrant('127.0.0.3', { ...ALICE, scope: 'records:read' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  test('an opaque token: the gateway reads the client\'s list from introspection', async () => {
    const granted = await passwordGrant('127.0.0.2', { ...ALICE, scope: 'ledger:read', resource: LEDGER_API });
    expect(granted.status).toBe(200);
    const token = granted.body.access_token as string;
    expect(token.split('.')).toHaveLength(1);
    expect((await callFrom('127.0.0.2', introspecting.url, '/ledger/entries', token)).status).toBe(200);
    expect(await callFrom('127.0.0.3', introspecting.url, '/ledger/entries', token)).toMatchObject({ status: 403, json: { error: 'ip_not_allowed' } });
  });

  test('a client without ip_allowlist gets no claim and is not restricted', async () => {
    const token = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read', WORKER_SECRET);
    expect(jwtParts(token).payload).not.toHaveProperty('ip_allowlist');
    expect((await callFrom('127.0.0.3', gw.url, '/partner/x', token)).status).toBe(200);
  });
});

describe("a route's allowed_ips", () => {
  test('refused before the token is looked at (no token: 403, not 401); allowed from a listed address', async () => {
    const token = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read', WORKER_SECRET);
    const before = (await refusals(gw.url)).route ?? 0;
    expect(await callFrom('127.0.0.1', gw.url, '/office/a', token)).toMatchObject({ status: 403, json: { error: 'ip_not_allowed' } });
    expect(await callFrom('127.0.0.1', gw.url, '/office/a')).toMatchObject({ status: 403, json: { error: 'ip_not_allowed' } });
    expect((await refusals(gw.url)).route).toBe(before + 2);
    expect((await callFrom('127.0.0.4', gw.url, '/office/a', token)).status).toBe(200);
    // A listed address still needs a valid token.
    expect((await callFrom('127.0.0.4', gw.url, '/office/a')).status).toBe(401);
  });
});

describe('X-Forwarded-For counts only from trusted proxies', () => {
  test('without GATEWAY_TRUST_PROXY a forged X-Forwarded-For is ignored', async () => {
    const token = (await passwordGrant('127.0.0.2', { ...ALICE, scope: 'records:read' })).body.access_token as string;
    expect((await callFrom('127.0.0.3', gw.url, '/partner/x', token, { 'x-forwarded-for': '127.0.0.2' })).status).toBe(403);
    expect((await callFrom('127.0.0.1', gw.url, '/office/x', token, { 'x-forwarded-for': '127.0.0.4' })).status).toBe(403);
  });

  test('behind the trusted proxy (127.0.0.5) the address it appended decides; another peer cannot forge it', async () => {
    const token = (await passwordGrant('127.0.0.2', { ...ALICE, scope: 'records:read' })).body.access_token as string;
    expect((await callFrom('127.0.0.5', behindProxy.url, '/partner/x', token, { 'x-forwarded-for': '127.0.0.2' })).status).toBe(200);
    // The caller wrote the first entry itself; the proxy appended its real address.
    expect((await callFrom('127.0.0.5', behindProxy.url, '/partner/x', token, { 'x-forwarded-for': '127.0.0.2, 127.0.0.3' })).status).toBe(403);
    expect((await callFrom('127.0.0.6', behindProxy.url, '/partner/x', token, { 'x-forwarded-for': '127.0.0.2' })).status).toBe(403);
    // The route's list and the client's list both apply: the partner's token is refused from 10.1.2.3, a worker's is not.
    expect((await callFrom('127.0.0.5', behindProxy.url, '/office/x', token, { 'x-forwarded-for': '10.1.2.3' })).status).toBe(403);
    const worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read', WORKER_SECRET);
    expect((await callFrom('127.0.0.5', behindProxy.url, '/office/x', worker, { 'x-forwarded-for': '10.1.2.3' })).status).toBe(200);
    // The upstream learns the chain, with the trusted proxy appended.
    const seen = echo.seen.at(-1)!;
    expect(seen.headers['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.5');
  });
});

describe('clientAddress', () => {
  const req = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
  const list = { enabled: true, proxies: ['10.0.0.0/8'] };
  const any = { enabled: true, proxies: undefined };
  const off = { enabled: false, proxies: undefined };

  test.each([
    ['no trust: the peer', off, req('198.51.100.7', '203.0.113.1'), '198.51.100.7'],
    ['IPv4-mapped peer', off, req('::ffff:127.0.0.2'), '127.0.0.2'],
    ['true: the last entry (what the one proxy appended)', any, req('10.0.0.1', '203.0.113.1, 198.51.100.9'), '198.51.100.9'],
    ['true, no header: the peer', any, req('10.0.0.1'), '10.0.0.1'],
    ['list: past the trusted proxies', list, req('10.0.0.1', '203.0.113.1, 198.51.100.9, 10.0.0.2'), '198.51.100.9'],
    ['list, untrusted peer: the peer', list, req('198.51.100.7', '203.0.113.1'), '198.51.100.7'],
    ['list, every entry a proxy: the first', list, req('10.0.0.1', '10.0.0.3, 10.0.0.2'), '10.0.0.3'],
    ['garbage entry: returned (no list admits it)', list, req('10.0.0.1', 'nonsense'), 'nonsense'],
  ])('%s', (_name, trust, r, expected) => {
    expect(clientAddress(r, trust)).toBe(expected);
  });
});

describe('configuration and claims', () => {
  const base = { issuer: 'http://127.0.0.1:1', audience: RECORDS_API, routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:2' }] };

  test('GATEWAY_TRUST_PROXY: true, false or CIDR blocks; allowed_ips: CIDR blocks', () => {
    expect(loadGatewaySettings({ GATEWAY_TRUST_PROXY: '10.0.0.0/8, 192.168.1.1' }, base).proxyTrust).toEqual({ enabled: true, proxies: ['10.0.0.0/8', '192.168.1.1'] });
    expect(loadGatewaySettings({ GATEWAY_TRUST_PROXY: 'true' }, base).proxyTrust).toEqual({ enabled: true, proxies: undefined });
    expect(loadGatewaySettings({}, base).proxyTrust).toEqual({ enabled: false, proxies: undefined });
    expect(() => loadGatewaySettings({ GATEWAY_TRUST_PROXY: '10.0.0.0/33' }, base)).toThrow(GatewayConfigError);
    expect(() => loadGatewaySettings({ GATEWAY_TRUST_PROXY: '10.0.0.0/33' }, base)).toThrow(/GATEWAY_TRUST_PROXY: must be true, false, or the trusted proxies' CIDR blocks/);
    expect(() => loadGatewaySettings({}, { ...base, routes: [{ ...base.routes[0], allowed_ips: ['10.0.0.300'] }] }))
      .toThrow(/routes\[0\]\.allowed_ips\[0\]: must be a CIDR block/);
    expect(() => loadGatewaySettings({}, { ...base, routes: [{ ...base.routes[0], allowed_ips: [] }] }))
      .toThrow(/routes\[0\]\.allowed_ips: must list at least one CIDR block/);
  });

  test('a token whose ip_allowlist the gateway cannot read is refused, never let through unrestricted', () => {
    const claims = { sub: 'c', tenant: 'default', client_id: 'c', exp: 2e9 };
    expect(contextFromClaims({ ...claims, ip_allowlist: ['127.0.0.2/32'] })?.ipAllowlist).toEqual(['127.0.0.2/32']);
    expect(contextFromClaims({ ...claims, ip_allowlist: ['not-an-address'] })).toBeUndefined();
    expect(contextFromClaims({ ...claims, ip_allowlist: '127.0.0.2' })).toBeUndefined();
    expect(contextFromClaims({ ...claims, ip_allowlist: [] })).toBeUndefined();
  });

  test("the gateway's CIDR code is the platform's (the copies read addresses alike)", () => {
    const fn = (file: string, name: string) => {
      const text = readFileSync(new URL(file, import.meta.url), 'utf8');
      const start = text.indexOf(`export function ${name}(`);
      return text.slice(start, text.indexOf('\n}\n', start));
    };
    for (const name of ['parseCidr', 'ipAllowed']) {
      expect(fn('../src/cidr.ts', name)).toBe(fn('../../server/src/oidc/cidr.ts', name));
      expect(fn('../src/cidr.ts', name).length).toBeGreaterThan(100);
    }
  });
});
