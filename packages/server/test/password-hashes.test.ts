/**
 * Imported password hashes (docs/users.md#hash-formats): bcrypt, PBKDF2-SHA256
 * as Keycloak exports it, Firebase's scrypt and argon2 of other parameters
 * are verified at sign-in and replaced by Tessera's argon2id. The expected
 * values come from outside Tessera: OpenBSD's bcrypt test vector, Python's
 * hashlib.pbkdf2_hmac, and the example in Firebase's scrypt README.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hash as argon2Hash } from '@node-rs/argon2';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { importHash, verifyStoredHash } from '../src/identity/hashes.js';
import { needsRehash } from '../src/identity/password.js';
import { runImport } from '../src/userdata/import/importer.js';

const BCRYPT = { password: 'U*U', hash: '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' };
// python3: hashlib.pbkdf2_hmac('sha256', 'päss wörd'.encode(), b'0123456789abcdef', 27500, 64)
const KEYCLOAK = {
  password: 'päss wörd',
  credential: {
    type: 'password',
    secretData: JSON.stringify({ value: 'rp/z6pgSkoJe6CYyu/14BB4ub5lpEydpUGvEj+DW/moFLlMnEx6KxIgG+8KV+KzHt/OAxgWjkosMGDDdCyh2XA==', salt: 'MDEyMzQ1Njc4OWFiY2RlZg==', additionalParameters: {} }),
    credentialData: JSON.stringify({ hashIterations: 27500, algorithm: 'pbkdf2-sha256', additionalParameters: {} }),
  },
};
const FIREBASE = {
  password: 'user1password',
  row: { algorithm: 'firebase-scrypt', hash: 'lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==', salt: '42xEC+ixf3L2lw==' },
  project: { signerKey: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==', saltSeparator: 'Bw==', rounds: 8, memCost: 14 },
};

describe('formats', () => {
  test('each format verifies the right password and refuses a wrong one', async () => {
    expect(await verifyStoredHash(BCRYPT.hash, BCRYPT.password)).toBe(true);
    expect(await verifyStoredHash(BCRYPT.hash, 'U*V')).toBe(false);
    const kc = importHash(KEYCLOAK.credential);
    expect(kc).toEqual({ ok: true, hash: expect.stringMatching(/^\$pbkdf2-sha256\$i=27500\$/) });
    expect(await verifyStoredHash((kc as { hash: string }).hash, KEYCLOAK.password)).toBe(true);
    expect(await verifyStoredHash((kc as { hash: string }).hash, 'pass word')).toBe(false);
    const fb = importHash(FIREBASE.row, FIREBASE.project);
    expect(fb.ok).toBe(true);
    expect(await verifyStoredHash((fb as { hash: string }).hash, FIREBASE.password)).toBe(true);
    expect(await verifyStoredHash((fb as { hash: string }).hash, 'user2password')).toBe(false);
    const a2i = await argon2Hash('argon two', { algorithm: 1, memoryCost: 4096, timeCost: 3, parallelism: 2 });
    expect(importHash(a2i)).toEqual({ ok: true, hash: a2i });
    expect(await verifyStoredHash(a2i, 'argon two')).toBe(true);
  });

  test('malformed, unsupported and too costly hashes are refused at import with a code', () => {
    expect(importHash('$md5$whatever')).toEqual({ ok: false, code: 'unsupported_hash' });
    expect(importHash('$2b$05$short')).toEqual({ ok: false, code: 'invalid_hash' });
    expect(importHash('$2b$31$' + 'a'.repeat(53))).toEqual({ ok: false, code: 'unsupported_hash' });
    expect(importHash({ ...KEYCLOAK.credential, credentialData: JSON.stringify({ hashIterations: 1, algorithm: 'pbkdf2-sha512' }) })).toEqual({ ok: false, code: 'unsupported_hash' });
    expect(importHash({ ...KEYCLOAK.credential, credentialData: JSON.stringify({ hashIterations: 100, algorithm: 'pbkdf2-sha256' }) })).toEqual({ ok: false, code: 'unsupported_hash' });
    expect(importHash({ algorithm: 'firebase-scrypt', hash: 'x', salt: 'y' })).toEqual({ ok: false, code: 'invalid_hash' });
    expect(importHash(FIREBASE.row, { ...FIREBASE.project, memCost: 30 })).toEqual({ ok: false, code: 'unsupported_hash' });
    expect(importHash('$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')).toEqual({ ok: false, code: 'unsupported_hash' });
    expect(importHash('$argon2id$v=19$m=oops')).toEqual({ ok: false, code: 'invalid_hash' });
    expect(importHash(42)).toEqual({ ok: false, code: 'invalid_hash' });
  });
});

describe('sign-in with an imported hash', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    const a2i = await argon2Hash('argon two', { algorithm: 1, memoryCost: 4096, timeCost: 3, parallelism: 2 });
    const rows = [
      { username: 'bcrypt', password_hash: BCRYPT.hash },
      { username: 'keycloak', password_hash: KEYCLOAK.credential },
      { username: 'firebase', password_hash: FIREBASE.row },
      { username: 'argon2i', password_hash: a2i },
    ].map((r) => JSON.stringify(r)).join('\n');
    const { counts } = await runImport(t.app.store.db, (async function* () { yield Buffer.from(rows); })(), {
      tenantId: 'default', format: 'jsonl', onConflict: 'skip', dryRun: false, sendActivation: false, caller: { admin: true, source: null },
      batchSize: 100, maxRecordBytes: 65536, firebase: FIREBASE.project,
    });
    expect(counts.created).toBe(4);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  test.each([
    ['bcrypt', BCRYPT.password], ['keycloak', KEYCLOAK.password], ['firebase', FIREBASE.password], ['argon2i', 'argon two'],
  ])('%s: a wrong password fails and keeps the hash; the right one signs in and upgrades it to argon2id', async (username, password) => {
    const identity = t.app.identity;
    const before = (await identity.findByLogin('default', username))!.passwordHash!;
    expect((await identity.verifyLogin('default', username, `${password}x`)).ok).toBe(false);
    expect((await identity.findByLogin('default', username))!.passwordHash).toBe(before);
    expect((await identity.verifyLogin('default', username, password)).ok).toBe(true);
    const after = (await identity.findByLogin('default', username))!.passwordHash!;
    expect(after).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(needsRehash(after)).toBe(false);
    expect((await identity.verifyLogin('default', username, password)).ok).toBe(true);
  }, 30_000);
});
