/**
 * The per-client protocol settings of issue 21 (oidc/protocol-metadata.ts):
 * the same fields and the same validation in the configuration file and the
 * admin API, with errors that name the field.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseDeclarative } from '../src/config/load.js';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { CONF_SECRET, REDIRECT } from './fixtures.js';

const client = (extra: Record<string, unknown>) => ({
  client_id: 'c1', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], ...extra,
});
const parse = (extra: Record<string, unknown>) => parseDeclarative(JSON.stringify({ clients: [client(extra)] }), 'file.yaml');

describe('configuration file', () => {
  test('accepts the refresh settings and keeps them', () => {
    const cfg = parse({ refresh_token_rotation: 'never', refresh_token_idle_ttl: 3600, refresh_token_ttl: 90 * 86_400, refresh_token_grace_period: 0 });
    expect(cfg.clients[0]).toMatchObject({ refresh_token_rotation: 'never', refresh_token_idle_ttl: 3600, refresh_token_grace_period: 0 });
  });

  test.each([
    [{ refresh_token_rotation: 'sometimes' }, /clients\[0\]\.refresh_token_rotation: must be always or never/],
    [{ refresh_token_rotation: 'never', token_endpoint_auth_method: 'none', client_secret: undefined }, /clients\[0\]\.refresh_token_rotation: never needs a confidential client/],
    [{ refresh_token_idle_ttl: 0 }, /clients\[0\]\.refresh_token_idle_ttl: must be positive/],
    [{ refresh_token_idle_ttl: 20 * 86_400 }, /clients\[0\]\.refresh_token_idle_ttl: must not exceed refresh_token_ttl \(1209600 seconds\)/],
    [{ refresh_token_grace_period: 61 }, /clients\[0\]\.refresh_token_grace_period: must be at most 60/],
    [{ refresh_token_ttl: 400 * 86_400 }, /clients\[0\]\.refresh_token_ttl: must be at most a year/],
  ])('refuses %j naming the field', (extra, message) => {
    expect(() => parse(extra)).toThrow(message);
  });
});

describe('admin API', () => {
  let t: TestApp;
  let api: ReturnType<typeof adminApi>;
  let token: string;
  beforeAll(async () => {
    t = await startTestApp({ config: adminConfig() });
    api = adminApi(t.issuer);
    token = await machineToken(t.issuer, 'ops-bot');
  });
  afterAll(async () => {
    await t?.close();
  });

  test('create, read and change the refresh settings; bad values are 400 with the field named', async () => {
    const created = await api('POST', '/clients', {
      token, body: { client_id: 'rp', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], refresh_token_rotation: 'never', refresh_token_idle_ttl: 600 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ refresh_token_rotation: 'never', refresh_token_idle_ttl: 600 });
    const ifMatch = async () => ({ 'if-match': (await api('GET', '/clients/rp', { token })).headers.get('etag')! });
    const patched = await api('PATCH', '/clients/rp', { token, headers: await ifMatch(), body: { refresh_token_rotation: null, refresh_token_grace_period: 30 } });
    expect(patched.status).toBe(200);
    expect(patched.body).not.toHaveProperty('refresh_token_rotation');
    expect(patched.body).toMatchObject({ refresh_token_grace_period: 30, refresh_token_idle_ttl: 600 });

    const bad = await api('PATCH', '/clients/rp', { token, headers: await ifMatch(), body: { refresh_token_rotation: 'sometimes', refresh_token_grace_period: 90 } });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual({ refresh_token_rotation: 'invalid', refresh_token_grace_period: 'too_large' });
    const tooIdle = await api('PATCH', '/clients/rp', { token, headers: await ifMatch(), body: { refresh_token_ttl: 300 } });
    expect(tooIdle.status).toBe(400);
    expect(tooIdle.body.fields).toEqual({ refresh_token_idle_ttl: 'invalid' });
    expect(String(tooIdle.body.error_description)).toMatch(/refresh_token_idle_ttl/);
    const publicNever = await api('POST', '/clients', {
      token, body: { client_id: 'spa2', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], refresh_token_rotation: 'never' },
    });
    expect(publicNever.status).toBe(400);
    expect(publicNever.body.fields).toEqual({ refresh_token_rotation: 'invalid' });
  });
});
