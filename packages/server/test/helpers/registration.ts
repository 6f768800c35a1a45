import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { startTestApp } from './app.js';
import type { TestApp } from './app.js';
import { UserAgent } from './agent.js';
import { firstLink, startSmtp } from './smtp.js';
import type { TestSmtp } from './smtp.js';
import { submitForm } from './forms.js';
import { REDIRECT, baseConfig } from '../fixtures.js';

/** The user agent the registration tests send, so the audit log can be checked for it. */
export const UA = 'RegistrationTest/1.0 (vitest)';
export const PASSWORD = 'a long and unusual passphrase';

/** Tenants with each registration policy, and a client of the closed one. */
export const registrationConfig = {
  ...baseConfig,
  tenants: [
    { id: 'default', name: 'Default', policy: { registration: 'open' } },
    { id: 'acme', name: 'Acme Corp' },
    { id: 'club', name: 'Invite Club', policy: { registration: 'invite_only' } },
    {
      id: 'strict', name: 'Strict Inc', policy: {
        registration: 'open', required_fields: ['username', 'given_name', 'family_name', 'phone_number'],
        password: { min_length: 12, max_length: 64, forbid_common: true },
      },
    },
    { id: 'relaxed', name: 'Relaxed Ltd', policy: { registration: 'open', require_email_verification: false } },
  ],
  clients: [
    ...baseConfig.clients,
    {
      client_id: 'acme-app', client_name: 'Acme App', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'], first_party: true, tenant: 'acme',
    },
  ],
};

export const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}@example.test`;

export interface RegistrationHarness {
  readonly t: TestApp;
  readonly smtp: TestSmtp;
  agent(): UserAgent;
  url(path: string): string;
  /** Opens /register{query} and submits it with `fields`. */
  registerViaPage(ua: UserAgent, fields: Record<string, string>, query?: string): Promise<Response>;
  /** POST /api/self-service/registration (an object is sent as JSON, a string as is). */
  api(body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** The confirmation link mailed to `email`. */
  confirmationLink(email: string): Promise<string>;
}

/** Boots an SMTP server and the app (registrationConfig, SMTP_URL set) for the enclosing file or describe. */
export function registrationHarness(): RegistrationHarness {
  let t: TestApp;
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startSmtp();
    t = await startTestApp({ config: registrationConfig, env: { SMTP_URL: smtp.url } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });
  const url = (path: string) => `${t.issuer}${path}`;
  return {
    get t() { return t; },
    get smtp() { return smtp; },
    agent: () => new UserAgent({ 'user-agent': UA }),
    url,
    registerViaPage: (ua, fields, query = '') => submitForm(ua, t.issuer, `/register${query}`, fields, '/register'),
    api: (body, headers = {}) => fetch(url('/api/self-service/registration'), {
      method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': UA, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
    async confirmationLink(email) {
      const mail = await smtp.waitFor((m) => m.to === email && m.text.includes('/confirm-email?token='));
      return firstLink(mail.text, '/confirm-email');
    },
  };
}
