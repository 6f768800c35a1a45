/**
 * Registration does not tell whether an address has an account (#17 item 5):
 * the JSON API and the hosted page answer an existing address as they answer
 * a new one, the owner gets a mail instead ("someone tried to register with
 * your address"), and nothing is created or changed. Real SMTP server, real
 * HTTP; SQLite, or PostgreSQL with TEST_DATABASE_URL.
 */
import { expect, test } from 'vitest';
import { PASSWORD, registrationHarness, unique } from './helpers/registration.js';

const h = registrationHarness();
const { agent, api, registerViaPage } = h;
const db = () => h.t.app.store.db;
const rowsFor = (email: string) => db().selectFrom('users').select(['id', 'password_hash']).where('email_normalized', '=', email).execute();
const answer = async (r: Response) => ({ status: r.status, body: await r.json() as Record<string, unknown> });
/** The page with what legitimately differs (the address typed, per-response nonces) taken out. */
const normalise = (html: string, email: string) => html.replaceAll(email, 'EMAIL').replace(/nonce="[^"]*"/g, 'nonce=""');

test('JSON API: a second registration of an address answers exactly like the first; the owner is mailed; no second account', async () => {
  const email = unique('twice');
  const first = await answer(await api({ email, password: PASSWORD, given_name: 'Ann' }));
  expect(first.status).toBe(201);
  await h.confirmationLink(email);
  const [before] = await rowsFor(email);

  // Another case, another password: still the same address.
  const second = await answer(await api({ email: email.toUpperCase(), password: `${PASSWORD} two` }));
  expect(second.status).toBe(first.status);
  expect(Object.keys(second.body).sort()).toEqual(Object.keys(first.body).sort());
  expect({ ...second.body, id: 'x' }).toEqual({ ...first.body, id: 'x' });
  // A well-formed id, not the account's.
  expect(second.body.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(second.body.id).not.toBe(first.body.id);

  const notice = await h.smtp.waitFor((m) => m.to === email && m.subject.startsWith('Someone tried to register'));
  expect(notice.subject).toBe('Someone tried to register at Default with your address');
  expect(notice.text).toContain('Hello Ann,');
  expect(notice.text).toContain(`${h.t.issuer}/account`);
  expect(notice.text).toContain(`${h.t.issuer}/password/forgot?tenant=default`);

  // One account, untouched (the second password did not replace the first), one confirmation mail.
  const rows = await rowsFor(email);
  expect(rows).toEqual([before]);
  expect(h.smtp.messages.filter((m) => m.to === email && m.text.includes('/confirm-email?token='))).toHaveLength(1);
  const audit = await h.t.app.platform.audit.query({ subjectId: before!.id });
  expect(audit.filter((e) => e.action === 'user.registered')).toHaveLength(1);
  expect(audit.find((e) => e.action === 'user.registration_attempted')).toMatchObject({ ip: '127.0.0.1' });
});

test('hosted page: an existing address gets the same page as a new one, and the owner a mail', async () => {
  const fresh = unique('page-new');
  const taken = unique('page-taken');
  expect((await api({ email: taken, password: PASSWORD })).status).toBe(201);

  const a = await registerViaPage(agent(), { email: fresh, password: PASSWORD });
  const b = await registerViaPage(agent(), { email: taken, password: PASSWORD });
  expect(b.status).toBe(a.status);
  expect(a.status).toBe(200);
  const [pageA, pageB] = [await a.text(), await b.text()];
  expect(pageB).toContain('Check your email');
  expect(pageB).not.toContain('already exists');
  expect(normalise(pageB, taken)).toBe(normalise(pageA, fresh));
  await h.smtp.waitFor((m) => m.to === taken && m.subject.startsWith('Someone tried to register'));
  expect(await rowsFor(taken)).toHaveLength(1);
});

test('a tenant without required confirmation: the existing address is answered "active" like a new one', async () => {
  const email = unique('relaxed-twice');
  const first = await answer(await api({ tenant: 'relaxed', email, password: PASSWORD }));
  const second = await answer(await api({ tenant: 'relaxed', email, password: PASSWORD }));
  expect(first.body).toMatchObject({ status: 'active', email_verified: false });
  expect({ ...second, body: { ...second.body, id: 'x' } }).toEqual({ ...first, body: { ...first.body, id: 'x' } });
  const rows = await db().selectFrom('users').select('id').where('tenant_id', '=', 'relaxed').where('email_normalized', '=', email).execute();
  expect(rows).toHaveLength(1);
});

test('a username in use is still said (usernames are picked, not private); the address never is', async () => {
  const owner = unique('handle');
  const handle = `h${Date.now().toString(36)}`;
  const base = { tenant: 'strict', given_name: 'Kim', family_name: 'Lee', phone_number: '+49 30 1234567' };
  const first = await answer(await api({ ...base, username: handle, email: owner, password: PASSWORD }));
  expect(first.status).toBe(201);
  const clash = await answer(await api({ ...base, username: handle, email: unique('other'), password: PASSWORD }));
  expect(clash).toMatchObject({ status: 400, body: { error: 'validation_failed', fields: { username: 'taken' } } });
  // The same address with a free username: the same answer shape as a new registration (with its phone step token).
  const again = await answer(await api({ ...base, username: `${handle}x`, email: owner, password: PASSWORD }));
  expect(again.status).toBe(201);
  expect(again.body).toMatchObject({ status: 'pending', email_verified: false, phone_number_verified: false, phone_confirmation: { code_sent: true } });
  const blank = (b: Record<string, unknown>) => ({ ...b, id: 'x', phone_confirmation: { ...(b.phone_confirmation as object), token: 'x' } });
  expect(blank(again.body)).toEqual(blank(first.body));
  for (const b of [first.body, again.body]) expect((b.phone_confirmation as { token: string }).token).toMatch(/^[\w-]{43}$/);
});

test('the owner gets at most 3 such mails an hour, however many registrations name the address', async () => {
  const email = unique('flood');
  expect((await api({ email, password: PASSWORD })).status).toBe(201);
  for (let i = 0; i < 5; i++) expect((await api({ email, password: PASSWORD })).status).toBe(201);
  const notices = () => h.smtp.messages.filter((m) => m.to === email && m.subject.startsWith('Someone tried to register'));
  await expect.poll(() => notices().length, { timeout: 10_000 }).toBe(3);
  // The mails go out in the background: give any further one time to arrive, then count again.
  await new Promise((r) => setTimeout(r, 1000));
  expect(notices()).toHaveLength(3);
});
