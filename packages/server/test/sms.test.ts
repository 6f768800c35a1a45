/**
 * SMS delivery through an HTTP provider (docs/identity.md#mail-and-sms): the
 * generic provider (URL, auth header, body template, JSON or form), the
 * Twilio preset, timeouts and retries, 503 delivery_failed, and the limits
 * per account, phone number and client IP — against an HTTP receiver that
 * records messages and fails on demand.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { startSmsReceiver } from './helpers/sms.js';
import type { SmsReceiver } from './helpers/sms.js';
import { CHROME_LINUX, page, signedInBrowser, submit, text } from './helpers/account.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { baseConfig } from './fixtures.js';
import { smsSettingsFromEnv } from '../src/notify/sms-config.js';
import { createHttpSms } from '../src/notify/sms-http.js';
import { DeliveryError } from '../src/notify/senders.js';
import { ConfigError } from '../src/config/errors.js';
import { createUserRepository } from '../src/identity/repository.js';
import { createOutboxRepository } from '../src/notify/outbox.js';

const quiet = { info: () => undefined, warn: () => undefined };
const SID = `AC${'0123456789abcdef'.repeat(2)}`;

let rx: SmsReceiver;
beforeAll(async () => {
  rx = await startSmsReceiver();
});
afterAll(async () => {
  await rx?.close();
});

const sender = (env: Record<string, string>) => {
  const settings = smsSettingsFromEnv(env);
  if (settings.provider === 'outbox') throw new Error('expected a provider');
  return createHttpSms(settings, quiet, { backoffMs: 10 });
};

describe('the HTTP provider', () => {
  test('generic: JSON body from the template, the auth header, values never break the JSON', async () => {
    rx.clear();
    const sms = sender({
      SMS_PROVIDER: 'http', SMS_HTTP_URL: `${rx.url}/v1/messages`, SMS_HTTP_AUTH_HEADER: 'X-Api-Key: k-123 456', SMS_FROM: 'Tessera',
      SMS_HTTP_BODY: '{"recipient":{"msisdn":"{{to}}"},"message":"{{text}}","sender":"{{from}}","priority":1}',
    });
    await sms.send({ to: '+4930123456', text: 'Code 123456 "quoted" \\ {{to}}' });
    expect(rx.messages).toHaveLength(1);
    const [m] = rx.messages;
    expect(m!.path).toBe('/v1/messages');
    expect(m!.headers['x-api-key']).toBe('k-123 456');
    expect(m!.headers['content-type']).toBe('application/json');
    // Placeholders inside the text are not expanded again; the template's non-string values stay.
    expect(m!.body).toEqual({ recipient: { msisdn: '+4930123456' }, message: 'Code 123456 "quoted" \\ {{to}}', sender: 'Tessera', priority: 1 });
  });

  test('generic form format', async () => {
    rx.clear();
    await sender({ SMS_PROVIDER: 'http', SMS_HTTP_URL: rx.url, SMS_HTTP_FORMAT: 'form' }).send({ to: '+4930123456', text: 'hello & bye' });
    expect(rx.messages[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(rx.messages[0]!.body).toEqual({ to: '+4930123456', text: 'hello & bye', from: '' });
  });

  test('the Twilio preset: Messages API path, Basic auth with the account SID, form fields To, From, Body', async () => {
    rx.clear();
    await sender({ SMS_PROVIDER: 'twilio', SMS_HTTP_URL: rx.url, SMS_TWILIO_ACCOUNT_SID: SID, SMS_TWILIO_AUTH_TOKEN: 'twilio-auth-token-0123', SMS_FROM: '+15005550006' })
      .send({ to: '+4930123456', text: 'Your code is 654321' });
    const [m] = rx.messages;
    expect(m!.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
    expect(m!.headers.authorization).toBe(`Basic ${Buffer.from(`${SID}:twilio-auth-token-0123`).toString('base64')}`);
    expect(m!.body).toEqual({ To: '+4930123456', From: '+15005550006', Body: 'Your code is 654321' });
  });

  test('retries 5xx and 429, then succeeds; gives up after SMS_RETRIES with DeliveryError; 4xx is not retried', async () => {
    rx.clear();
    const sms = sender({ SMS_PROVIDER: 'http', SMS_HTTP_URL: rx.url, SMS_RETRIES: '2' });
    let before = rx.attempts;
    rx.fail({ status: 503 }, 1);
    rx.fail({ status: 429 }, 2);
    await sms.send({ to: '+4930123456', text: 'third time lucky' });
    expect(rx.attempts - before).toBe(3);
    expect(rx.messages).toHaveLength(1);

    before = rx.attempts;
    rx.fail({ status: 500 });
    await expect(sms.send({ to: '+4930123456', text: 'never' })).rejects.toBeInstanceOf(DeliveryError);
    expect(rx.attempts - before).toBe(3);

    before = rx.attempts;
    rx.fail({ status: 400 });
    await expect(sms.send({ to: '+4930123456', text: 'bad request' })).rejects.toBeInstanceOf(DeliveryError);
    expect(rx.attempts - before).toBe(1);
    rx.recover();
  });

  test('a provider that does not answer: each attempt times out (SMS_TIMEOUT_MS), then DeliveryError', async () => {
    const sms = sender({ SMS_PROVIDER: 'http', SMS_HTTP_URL: rx.url, SMS_RETRIES: '1', SMS_TIMEOUT_MS: '200' });
    const before = rx.attempts;
    rx.fail({ hang: true });
    const started = Date.now();
    await expect(sms.send({ to: '+4930123456', text: 'hello?' })).rejects.toBeInstanceOf(DeliveryError);
    expect(rx.attempts - before).toBe(2);
    expect(Date.now() - started).toBeLessThan(5000);
    rx.recover();
  });

  test('only E.164 numbers are sent to', async () => {
    const before = rx.attempts;
    await expect(sender({ SMS_PROVIDER: 'http', SMS_HTTP_URL: rx.url }).send({ to: '030 123456', text: 'x' })).rejects.toBeInstanceOf(DeliveryError);
    expect(rx.attempts).toBe(before);
  });

  test.each([
    [{ SMS_PROVIDER: 'http' }, 'SMS_HTTP_URL: is required for SMS_PROVIDER=http'],
    [{ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'ftp://x' }, 'SMS_HTTP_URL: must be an http(s) URL'],
    [{ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'http://x', SMS_HTTP_BODY: '[1]' }, 'SMS_HTTP_BODY: must be a JSON object'],
    [{ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'http://x', SMS_HTTP_BODY: '{"to":"{{to}}"}' }, 'SMS_HTTP_BODY: must contain {{text}}'],
    [{ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'http://x', SMS_HTTP_AUTH_HEADER: 'no colon' }, 'SMS_HTTP_AUTH_HEADER: must be "Name: value"'],
    [{ SMS_PROVIDER: 'twilio', SMS_TWILIO_ACCOUNT_SID: 'nope' }, 'SMS_TWILIO_ACCOUNT_SID: must be AC followed by 32 hex digits'],
    [{ SMS_PROVIDER: 'twilio' }, 'SMS_FROM: is required for SMS_PROVIDER=twilio'],
    [{ SMS_PROVIDER: 'carrier-pigeon' }, 'SMS_PROVIDER: must be outbox, http or twilio'],
  ])('a broken setting stops the start with a clear message: %o', (env, message) => {
    expect(() => smsSettingsFromEnv(env)).toThrow(ConfigError);
    expect(() => smsSettingsFromEnv(env)).toThrow(message);
  });
});

describe('the platform with an HTTP provider', () => {
  let t: TestApp;
  const PASSWORD = 'a long enough test password';
  const person = (username: string, phone: string, tenant = 'default') => ({
    username, password: PASSWORD, email: `${username}@example.test`, email_verified: true, phone_number: phone, tenant,
  });

  beforeAll(async () => {
    t = await startTestApp({
      config: {
        ...baseConfig,
        tenants: [...baseConfig.tenants, { id: 'tight', name: 'Tight', policy: { sms: { per_number_per_hour: 2, per_ip_per_hour: 3 } } }],
        users: [...baseConfig.users, person('sam', '+4930111111'), person('tom', '+4930222222'), person('uma', '+4930333333', 'tight'),
          person('vic', '+4930333333', 'tight'), person('wes', '+4930444444', 'tight'), person('xia', '+4930555555', 'tight')],
      },
      env: { SMS_PROVIDER: 'http', SMS_HTTP_URL: `${rx.url}/send`, SMS_HTTP_AUTH_HEADER: 'Authorization: Bearer sms-test', SMS_RETRIES: '1', SMS_TIMEOUT_MS: '500' },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Signed in to the account pages of a tenant (`?tenant=`: the account pages serve every tenant). */
  const signIn = async (username: string, tenant?: string) => {
    if (!tenant) return signedInBrowser(t.issuer, { username, password: PASSWORD });
    const agent = new UserAgent({ 'user-agent': CHROME_LINUX });
    const start = `${t.issuer}/account?tenant=${tenant}`;
    const { res } = await agent.follow(await agent.get(start), start);
    const action = new URL(formAction(await res.text(), '/login'), t.issuer);
    const done = await agent.follow(await agent.post(action, { username, password: PASSWORD }), action.href);
    expect(new URL(done.url).pathname).toBe('/account');
    return { agent };
  };

  test('the account page\'s code goes to the provider, and confirms the number; no SMS lands in the outbox', async () => {
    const { agent } = await signIn('sam');
    const sent = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {});
    expect(sent.status).toBe(200);
    const sms = await rx.waitFor((m) => m.to === '+4930111111');
    expect(sms.headers.authorization).toBe('Bearer sms-test');
    expect(sms.text).toMatch(/Your Tessera code is \d{6}\. It is valid for 10 minutes\./);
    const ok = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/confirm`, { code: sms.code! });
    expect(ok.status).toBe(303);
    expect((await createUserRepository(t.app.store.db).findByUsername('default', 'sam'))!.phoneNumberVerified).toBe(true);
    expect((await createOutboxRepository(t.app.store.db).list(50)).filter((m) => m.channel === 'sms')).toEqual([]);
  });

  test('the provider down: 503 delivery_failed, nothing else changes; once it is back, sending works', async () => {
    const { agent } = await signIn('tom');
    rx.fail({ status: 502 });
    const res = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {});
    expect(res.status).toBe(503);
    expect(text(await res.text())).toMatch(/delivery_failed/);
    rx.recover();
    expect((await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {})).status).toBe(200);
    expect(rx.last('+4930222222')?.code).toMatch(/^\d{6}$/);
  });

  test('limits per tenant: per phone number (two accounts, one number) and per client IP, from the tenant policy', async () => {
    // uma and vic share a number: the number's allowance (2 an hour in this tenant) is shared too.
    const uma = await signIn('uma', 'tight');
    const vic = await signIn('vic', 'tight');
    expect((await submit(uma.agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {})).status).toBe(200);
    expect((await submit(vic.agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {})).status).toBe(200);
    const limited = await submit(vic.agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {});
    expect(limited.status).toBe(429);
    expect(text(await limited.text())).toContain('Too many messages were sent. Try again in an hour.');
    expect(rx.messages.filter((m) => m.to === '+4930333333')).toHaveLength(2);
    // The IP's allowance in this tenant is 3: two went to uma/vic's number, one more to another number, then none.
    const wes = await signIn('wes', 'tight');
    expect((await submit(wes.agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {})).status).toBe(200);
    const xia = await signIn('xia', 'tight');
    expect((await submit(xia.agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {})).status).toBe(429);
    expect(rx.last('+4930555555')).toBeUndefined();
    // Another tenant's allowance is its own.
    const { agent } = await signIn('sam');
    expect((await page(agent, `${t.issuer}/account/phone`)).status).toBe(200);
  });
});
