/**
 * A failure of the held writes (oidc/write-batch.ts) at the resume of a
 * sign-in, the browser's request that would redirect it to the client with a
 * code: the browser gets the error page (HTML, no redirect), not a JSON body,
 * and no code reaches the client. The failure is the database's own: a
 * trigger refuses to store an authorization code.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { sql } from 'kysely';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { discover } from './helpers/flows.js';
import { REDIRECT, USER, baseConfig } from './fixtures.js';

let t: TestApp;
beforeAll(async () => {
  // The codes in the database (also in the suite's Redis mode), where the trigger refuses them.
  t = await startTestApp({ config: baseConfig, env: { TESSERA_ENGINE_STATE: 'database' } });
});
afterAll(async () => {
  await t?.close();
});

async function refuseCodes(): Promise<void> {
  const db = t.app.store.db;
  if (t.app.store.engine === 'sqlite') {
    await sql`create trigger refuse_codes before insert on oidc_payloads when new.model = 'AuthorizationCode'
      begin select raise(abort, 'injected: codes refused'); end`.execute(db);
  } else {
    await sql`create function refuse_codes() returns trigger language plpgsql as $$ begin raise exception 'injected: codes refused'; end $$`.execute(db);
    await sql`create trigger refuse_codes before insert on oidc_payloads for each row when (new.model = 'AuthorizationCode') execute function refuse_codes()`.execute(db);
  }
}

test('the code cannot be stored at the resume: the browser gets the error page, no redirect to the client', async () => {
  const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
  const authUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: oidc.randomState(),
  });
  const agent = new UserAgent();
  const { res: signInPage } = await agent.follow(await agent.get(authUrl), authUrl.href);
  const action = new URL(formAction(await signInPage.text(), '/login'), t.issuer);
  const posted = await agent.post(action, { username: USER.username, password: USER.password });
  expect(posted.status).toBe(303);
  const resume = new URL(posted.headers.get('location')!, t.issuer);
  expect(resume.pathname).toMatch(/^\/oidc\/auth\//);

  await refuseCodes();
  const res = await agent.get(resume);
  expect(res.status).toBe(500);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('location')).toBeNull();
  expect(await res.text()).toContain('server_error');
  expect((await t.app.store.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'AuthorizationCode').execute())).toHaveLength(0);
});
