import { describe, expect, test } from 'vitest';
import { targetUrl } from './proxy.js';

describe('targetUrl', () => {
  const base = 'http://gateway.internal:8080/v1';

  test('maps /api/* onto the base, with the query', () => {
    expect(targetUrl(base, '/api/orders/42?expand=lines&x=%2F')).toBe('http://gateway.internal:8080/v1/orders/42?expand=lines&x=%2F');
    expect(targetUrl(base, '/api')).toBe('http://gateway.internal:8080/v1');
    expect(targetUrl(base, '/api?q=1')).toBe('http://gateway.internal:8080/v1?q=1');
    expect(targetUrl('http://gw', '/api/x')).toBe('http://gw/x');
  });

  test('refuses paths outside /api and anything that could climb out of the base', () => {
    for (const raw of ['/apix', '/other/api/x', '/api/../admin', '/api/./x', '/api/%2e%2e/admin', '/api/%2E/x', '/api/a%2F..%2Fb',
      '/api/a%2fb', '/api/a\\b', '/api/a%5cb', '/api/%E0%A4%A']) {
      expect(targetUrl(base, raw), raw).toBeUndefined();
    }
  });

  test('the result stays on the base origin', () => {
    expect(targetUrl(base, '/api/@evil.example/x')).toBe('http://gateway.internal:8080/v1/@evil.example/x');
  });
});
