import { describe, expect, test } from 'vitest';
import { compileRoutes, isSafePath, prefixMatches, upstreamPath } from './routes.js';
import { routeSchema } from './config.js';

const table = (routes: Array<Record<string, unknown>>) =>
  compileRoutes({ audience: 'https://api.test', acr_levels: ['pwd', 'mfa'], routes: routes.map((r) => routeSchema.parse(r)) });

describe('route matching', () => {
  const t = table([
    { prefix: '/', upstream: 'http://a' },
    { prefix: '/api', upstream: 'http://b' },
    { prefix: '/api/admin', upstream: 'http://c', methods: ['GET'] },
    { prefix: '/api/admin', upstream: 'http://d', methods: ['POST'] },
  ]);
  const origin = (method: string, path: string) => {
    const m = t.match(method, path);
    return m.kind === 'route' ? m.route.upstreamOrigin : m.kind;
  };

  test('longest prefix wins, on segment boundaries', () => {
    expect(origin('GET', '/api/x')).toBe('http://b');
    expect(origin('GET', '/apix')).toBe('http://a');
    expect(origin('GET', '/api')).toBe('http://b');
    expect(origin('GET', '/api/admin/users')).toBe('http://c');
    expect(origin('POST', '/api/admin')).toBe('http://d');
  });

  test('a longer prefix for other methods answers 405 instead of falling through to a shorter one', () => {
    const m = t.match('DELETE', '/api/admin/users');
    expect(m.kind).toBe('method');
    expect(m.kind === 'method' && m.allow.sort()).toEqual(['GET', 'POST']);
  });

  test('without a catch-all, unknown paths match nothing', () => {
    expect(table([{ prefix: '/x', upstream: 'http://a' }]).match('GET', '/y').kind).toBe('none');
  });

  test('prefixMatches', () => {
    expect(prefixMatches('/a', '/a')).toBe(true);
    expect(prefixMatches('/a', '/a/b')).toBe(true);
    expect(prefixMatches('/a', '/ab')).toBe(false);
  });
});

describe('paths', () => {
  test.each(['/a/../b', '/a/..', '/a/./b', '/a/%2e%2e/b', '/a/%2E./b', '/a%2fb', '/a%5cb', '/a\\b', 'a', '/a%00'])('%s is refused', (p) => {
    expect(isSafePath(p)).toBe(false);
  });
  test.each(['/', '/a', '/a/b.c', '/a/..b', '/a/b..', '/a/%20b'])('%s is allowed', (p) => {
    expect(isSafePath(p)).toBe(true);
  });

  test('upstream paths: base path, strip_prefix, query kept', () => {
    const [plain, stripped, root] = table([
      { prefix: '/api', upstream: 'http://h/v1/' },
      { prefix: '/svc', upstream: 'http://h/base', strip_prefix: true },
      { prefix: '/', upstream: 'http://h', strip_prefix: true },
    ]).routes;
    expect(upstreamPath(plain!, '/api/x?y=1')).toBe('/v1/api/x?y=1');
    expect(upstreamPath(stripped!, '/svc/x?y=1')).toBe('/base/x?y=1');
    expect(upstreamPath(stripped!, '/svc?y=1')).toBe('/base/?y=1');
    expect(upstreamPath(stripped!, '/svc')).toBe('/base/');
    expect(upstreamPath(root!, '/x')).toBe('/x');
  });
});
