import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { enrollTotp, signInToAccount, totpHandler } from './helpers/mfa.js';
import { baseConfig, CONF_SECRET, USER } from './fixtures.js';

/** `mfa_enrolled` / `mfa_required`: released when asked for with the claims parameter (docs/protocol.md#claims). */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, { ...baseConfig.clients[1], client_id: 'strict', mfa: 'required' }],
      users: [...baseConfig.users, { username: 'bob', password: USER.password, email: 'bob@example.test', email_verified: true }],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const ASK = JSON.stringify({ id_token: { mfa_enrolled: null, mfa_required: null }, userinfo: { mfa_enrolled: null } });

describe('MFA state claims', () => {
  test('absent unless asked for; then the user\'s enrollment and the policy for this client', async () => {
    const web = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET });
    const plain = await codeFlow(web, new UserAgent(), t.issuer, { username: 'bob', password: USER.password });
    expect(plain.tokens.claims()).not.toHaveProperty('mfa_enrolled');
    expect(plain.tokens.claims()).not.toHaveProperty('mfa_required');

    const asked = await codeFlow(web, new UserAgent(), t.issuer, { username: 'bob', password: USER.password }, { claims: ASK });
    expect(asked.tokens.claims()).toMatchObject({ mfa_enrolled: false, mfa_required: false });

    const meta = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as { claims_supported: string[] };
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['mfa_enrolled', 'mfa_required']));
  });

  test('after enrolling an authenticator app: enrolled; a client that requires MFA says required', async () => {
    const account = await signInToAccount(t.issuer, USER);
    const { authenticator } = await enrollTotp(account, t.issuer);
    const strict = await discover(t.issuer, { clientId: 'strict', clientSecret: CONF_SECRET });
    const flow = await codeFlow(strict, new UserAgent(), t.issuer, USER, { claims: ASK }, { mfa: totpHandler(authenticator) });
    expect(flow.tokens.claims()).toMatchObject({ mfa_enrolled: true, mfa_required: true });
  });
});
