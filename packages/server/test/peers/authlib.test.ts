import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { UserAgent } from '../helpers/agent.js';
import { signInThrough } from '../helpers/flows.js';
import { CONF_SECRET, USER } from '../fixtures.js';

/**
 * Python Authlib (Debian python3-authlib) as a relying party of Tessera:
 * authlib/rp.py follows docs/relying-parties.md. The test plays the browser.
 */

const SCRIPT = fileURLToPath(new URL('./authlib/rp.py', import.meta.url));
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const REDIRECT = 'http://127.0.0.1:9/authlib/callback';
let t: TestApp;

beforeAll(async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: apt-get install -y python3-authlib python3-requests`);
  t = await startTestApp({
    config: {
      clients: [{
        client_id: 'authlib', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true,
        grant_types: ['authorization_code', 'refresh_token'],
      }],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' }],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('Authlib (Python)', () => {
  test('code flow with PKCE and nonce, ID token validated against the JWKS, UserInfo, refresh', async () => {
    const child = spawn(PYTHON, [SCRIPT, t.issuer, 'authlib', CONF_SECRET, REDIRECT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += String(c)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => {
      const { value, done } = await lines.next();
      if (done) throw new Error(`rp.py ended: ${stderr}`);
      return JSON.parse(value) as Record<string, unknown>;
    };
    const { authorize } = await next() as { authorize: string };
    const url = new URL(authorize);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('nonce')).toMatch(/.+/);
    const callback = await signInThrough(new UserAgent(), url, t.issuer, USER);
    child.stdin.write(`${callback.href}\n`);
    const result = await next() as { id_token: Record<string, unknown>; userinfo: Record<string, unknown>; refreshed: boolean };
    expect(result.id_token).toMatchObject({ iss: t.issuer, aud: 'authlib', nonce: url.searchParams.get('nonce') });
    expect(result.userinfo).toMatchObject({ email: 'alice@example.test', name: 'Alice Liddell', preferred_username: 'alice' });
    expect(result.refreshed).toBe(true);
    child.kill();
  });
});
