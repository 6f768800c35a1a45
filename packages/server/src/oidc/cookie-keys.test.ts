import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import Keygrip from 'keygrip';
import Cookies from 'cookies';
import { CookieKeys } from './cookie-keys.js';

/** Keygrip (what Koa and the engine used before) is the reference: the same signatures, the same answers. */
describe('CookieKeys', () => {
  test('signs exactly as Keygrip does, for string and Buffer keys and any data', () => {
    for (let i = 0; i < 200; i++) {
      const keys = [randomBytes(32).toString('base64url'), randomBytes(16)];
      const data = `_session=${randomBytes(i % 40).toString('base64url')}é✓`;
      expect(new CookieKeys(keys).sign(data)).toBe(new Keygrip(keys as never).sign(data));
    }
  });

  test('index: which key signed it, -1 for anything else, as Keygrip answers', () => {
    const keys = ['new-key-0123456789abcdef', 'old-key-0123456789abcdef'];
    const ours = new CookieKeys(keys);
    const theirs = new Keygrip(keys);
    const data = '_interaction=abc123';
    const byOld = new Keygrip([keys[1]!]).sign(data);
    const cases = [ours.sign(data), byOld, new Keygrip(['another key']).sign(data), '', 'x', `${byOld}A`, byOld.slice(1), ours.sign(`${data}x`)];
    for (const digest of cases) expect(ours.index(data, digest)).toBe(theirs.index(data, digest));
    expect(ours.index(data, ours.sign(data))).toBe(0);
    expect(ours.index(data, byOld)).toBe(1);
    expect(ours.verify(data, byOld)).toBe(true);
    expect(ours.verify(data, 'nope')).toBe(false);
  });

  test('a cookie signed by Keygrip reads back through the cookies package with CookieKeys, and one tampered with does not', () => {
    const keys = ['cookie-key-0123456789abcdefghij'];
    const set = (signer: unknown, name: string, value: string): string[] => {
      const req = new IncomingMessage(new Socket());
      const res = new ServerResponse(req);
      new Cookies(req, res, { keys: signer as Keygrip }).set(name, value, { signed: true });
      return (res.getHeader('set-cookie') as string[]).map((c) => c.split(';')[0]!);
    };
    const get = (signer: unknown, header: string, name: string): string | undefined => {
      const req = new IncomingMessage(new Socket());
      req.headers.cookie = header;
      return new Cookies(req, new ServerResponse(req), { keys: signer as Keygrip }).get(name, { signed: true });
    };
    const header = set(new Keygrip(keys), '_session', 'abc').join('; ');
    expect(get(new CookieKeys(keys), header, '_session')).toBe('abc');
    expect(get(new CookieKeys(keys), header.replace('_session=abc', '_session=abd'), '_session')).toBeUndefined();
    // And the other way round.
    expect(get(new Keygrip(keys), set(new CookieKeys(keys), '_session', 'xyz').join('; '), '_session')).toBe('xyz');
  });

  test('refuses an empty key list', () => {
    expect(() => new CookieKeys([])).toThrow(/at least one key/);
  });
});
