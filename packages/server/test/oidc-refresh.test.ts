/**
 * Refresh tokens for every client (issue 21): rotation with reuse detection
 * for confidential clients too, the per-client `refresh_token_rotation`
 * policy, the grace period for concurrent refreshes, absolute and idle
 * lifetimes (beyond the 14 days of a session), and the ID token claims
 * step-up promises. openid-client is the relying party throughout.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { CONF_SECRET, REDIRECT, USER, baseConfig } from './fixtures.js';
import { ACR_PASSWORD } from '../src/oidc/acr.js';

const DAY = 86_400;
const confidential = (client_id: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'client_secret_basic', first_party: true, ...extra,
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [
        ...baseConfig.clients,
        confidential('bff'),
        confidential('bff-strict', { refresh_token_grace_period: 1 }),
        confidential('bff-nograce', { refresh_token_grace_period: 0 }),
        confidential('legacy', { refresh_token_rotation: 'never', refresh_token_idle_ttl: 3, refresh_token_ttl: 7 }),
        confidential('idle', { refresh_token_idle_ttl: 2 }),
        confidential('short', { refresh_token_ttl: 4 }),
        confidential('long', { refresh_token_ttl: 90 * DAY, refresh_token_idle_ttl: 30 * DAY }),
      ],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const rp = (clientId: string) => discover(t.issuer, { clientId, clientSecret: CONF_SECRET, auth: 'basic' });

async function signIn(clientId: string, params: Record<string, string> = {}) {
  const config = await rp(clientId);
  const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid', prompt: 'login', ...params });
  expect(tokens.refresh_token).toBeTruthy();
  return { config, tokens, rt: tokens.refresh_token! };
}

/** Whether the token endpoint still honours a refresh token: the error code, or 'ok'. */
async function tryRefresh(config: oidc.Configuration, rt: string): Promise<string> {
  try {
    await oidc.refreshTokenGrant(config, rt);
    return 'ok';
  } catch (err) {
    return (err as { error?: string }).error ?? String(err);
  }
}

const introspect = async (config: oidc.Configuration, token: string) => oidc.tokenIntrospection(config, token);

describe('rotation for confidential clients (default always)', () => {
  test('every refresh returns a new refresh token; a reused one revokes the family', async () => {
    const { config, rt: rt1 } = await signIn('bff-nograce');
    const second = await oidc.refreshTokenGrant(config, rt1);
    const rt2 = second.refresh_token!;
    expect(rt2).toBeTruthy();
    expect(rt2).not.toBe(rt1);
    const third = await oidc.refreshTokenGrant(config, rt2);
    const rt3 = third.refresh_token!;
    expect(rt3).not.toBe(rt2);
    // rt2 was used up: presenting it again is reuse, and the whole grant goes.
    expect(await tryRefresh(config, rt2)).toBe('invalid_grant');
    expect(await tryRefresh(config, rt3)).toBe('invalid_grant');
    expect((await introspect(config, third.access_token)).active).toBe(false);
  });

  test('after the grace period, the same old token counts as reuse', async () => {
    const { config, rt: rt1 } = await signIn('bff-strict');
    const rt2 = (await oidc.refreshTokenGrant(config, rt1)).refresh_token!;
    await sleep(2100);
    expect(await tryRefresh(config, rt1)).toBe('invalid_grant');
    expect(await tryRefresh(config, rt2)).toBe('invalid_grant');
  });
});

describe('grace period for concurrent refreshes', () => {
  test('four refreshes with the same token at once all succeed with the same new refresh token', async () => {
    const { config, rt: rt1 } = await signIn('bff');
    const answers = await Promise.all([1, 2, 3, 4].map(() => oidc.refreshTokenGrant(config, rt1)));
    const [a] = answers;
    expect(a!.refresh_token).not.toBe(rt1);
    expect(new Set(answers.map((x) => x.refresh_token))).toEqual(new Set([a!.refresh_token]));
    // Each caller gets its own, working access token.
    expect(new Set(answers.map((x) => x.access_token)).size).toBe(4);
    for (const x of answers) expect((await introspect(config, x.access_token)).active).toBe(true);
    // The family lives on: the shared successor rotates as usual.
    const next = await oidc.refreshTokenGrant(config, a!.refresh_token!);
    expect(next.refresh_token).not.toBe(a!.refresh_token);
  });

  test('a retry within the window gets the same successor; once that is used, the old token is reuse', async () => {
    const { config, rt: rt1 } = await signIn('bff');
    const rt2 = (await oidc.refreshTokenGrant(config, rt1)).refresh_token!;
    const retry = await oidc.refreshTokenGrant(config, rt1);
    expect(retry.refresh_token).toBe(rt2);
    const rt3 = (await oidc.refreshTokenGrant(config, rt2)).refresh_token!;
    // rt2 is no longer the live successor: rt1 again is theft, not a race.
    expect(await tryRefresh(config, rt1)).toBe('invalid_grant');
    expect(await tryRefresh(config, rt3)).toBe('invalid_grant');
  });

  test('only the same client: another client presenting the token is refused and revokes nothing', async () => {
    const { config, rt: rt1 } = await signIn('bff');
    const rt2 = (await oidc.refreshTokenGrant(config, rt1)).refresh_token!;
    const other = await rp('bff-strict');
    expect(await tryRefresh(other, rt1)).toBe('invalid_grant');
    expect(await tryRefresh(config, rt2)).toBe('ok');
  });

  test('grace period 0: the second of two concurrent refreshes is treated as reuse', async () => {
    const { config, rt: rt1 } = await signIn('bff-nograce');
    const rt2 = (await oidc.refreshTokenGrant(config, rt1)).refresh_token!;
    expect(await tryRefresh(config, rt1)).toBe('invalid_grant');
    expect(await tryRefresh(config, rt2)).toBe('invalid_grant');
  });
});

describe('refresh_token_rotation: never, and lifetimes', () => {
  test('never: the same token is returned and keeps working; use slides its idle window up to the absolute end', async () => {
    const { config, rt } = await signIn('legacy');
    const { exp: exp0, iat } = await introspect(config, rt);
    const until = async (epochSeconds: number) => sleep(Math.max(0, epochSeconds * 1000 - Date.now()));
    await until(iat! + 1.5);
    const again = await oidc.refreshTokenGrant(config, rt);
    expect(again.refresh_token).toBe(rt);
    const exp1 = (await introspect(config, rt)).exp!;
    expect(exp1).toBeGreaterThan(exp0!);
    // Past the first idle window (3 s): alive only because the use above slid it.
    await until(exp0! + 0.2);
    expect(await tryRefresh(config, rt)).toBe('ok');
    // Past the absolute lifetime (7 s from the first token): over, however recently it was used.
    await until(iat! + 7.3);
    expect(await tryRefresh(config, rt)).toBe('invalid_grant');
  });

  test('idle lifetime with rotation: a family left unused longer than refresh_token_idle_ttl ends', async () => {
    const { config, rt } = await signIn('idle');
    const intro = await introspect(config, rt);
    expect(intro.exp! - intro.iat!).toBe(2);
    await sleep(3100);
    expect(await tryRefresh(config, rt)).toBe('invalid_grant');
  });

  test('absolute lifetime with rotation: a rotated token never outlives its family', async () => {
    const { config, rt } = await signIn('short');
    const familyEnd = (await introspect(config, rt)).exp!;
    await sleep(1100);
    const rt2 = (await oidc.refreshTokenGrant(config, rt)).refresh_token!;
    const second = await introspect(config, rt2);
    // A fresh 4 s from now would end after the family; it gets only what is left.
    expect(second.exp!).toBe(familyEnd);
    expect(second.exp! - second.iat!).toBeLessThan(4);
    await sleep(familyEnd * 1000 - Date.now() + 1100);
    expect(await tryRefresh(config, rt2)).toBe('invalid_grant');
  });

  test('refresh_token_ttl beyond 14 days takes effect: the token and its grant last the configured 90 days', async () => {
    const { config, rt, tokens } = await signIn('long');
    const intro = await introspect(config, rt);
    // The idle window (30 days) bounds each token; the absolute 90 days bound the family.
    expect(intro.exp! - intro.iat!).toBe(30 * DAY);
    // The grant behind it (which a session's 14 days would otherwise end) lasts the family's 90 days.
    const grants = await t.app.platform.payloads.listByAccount('Grant', decodeJwt(tokens.id_token!).sub!) as { clientId: string; exp: number }[];
    const grant = grants.find((g) => g.clientId === 'long')!;
    expect(grant.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(90 * DAY - 60);
    const rotated = await oidc.refreshTokenGrant(config, rt);
    expect(rotated.refresh_token).not.toBe(rt);
  });
});

describe('what step-up promises', () => {
  test('acr_values: the ID token carries acr, amr and auth_time, also after a refresh', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { config, tokens } = await signIn('bff', { acr_values: ACR_PASSWORD });
    const claims = decodeJwt(tokens.id_token!);
    expect(claims.acr).toBe(ACR_PASSWORD);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.auth_time).toBeGreaterThanOrEqual(before - 1);
    const refreshed = decodeJwt((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).id_token!);
    expect(refreshed).toMatchObject({ acr: ACR_PASSWORD, amr: ['pwd'], auth_time: claims.auth_time });
  });

  test('without acr_values (and no claims request) the ID token names neither amr nor auth_time', async () => {
    const { tokens } = await signIn('bff', { prompt: 'consent' });
    const claims = decodeJwt(tokens.id_token!);
    expect(claims).not.toHaveProperty('amr');
    expect(claims).not.toHaveProperty('auth_time');
  });
});
