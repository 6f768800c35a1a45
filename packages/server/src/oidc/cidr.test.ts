import { describe, expect, test } from 'vitest';
import { ipAllowed, ipAllowlistProblem, parseCidr } from './cidr.js';

describe('parseCidr', () => {
  test.each([
    ['203.0.113.0/24', { address: '203.0.113.0', prefix: 24, family: 'ipv4' }],
    ['127.0.0.1', { address: '127.0.0.1', prefix: 32, family: 'ipv4' }],
    ['2001:db8::/32', { address: '2001:db8::', prefix: 32, family: 'ipv6' }],
    ['::1', { address: '::1', prefix: 128, family: 'ipv6' }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, family: 'ipv4' }],
  ])('accepts %s', (value, parsed) => {
    expect(parseCidr(value)).toEqual(parsed);
  });

  test.each(['', '203.0.113.0/33', '2001:db8::/129', '203.0.113/24', '203.0.113.0/', '203.0.113.0/24/1', '203.0.113.0/-1',
    '203.0.113.0/ 24', 'fe80::1%eth0', 'fe80::1%eth0/64', 'example.com/24', '10.0.0.0/08x'])('refuses %j', (value) => {
    expect(parseCidr(value)).toBeUndefined();
  });
});

describe('ipAllowed', () => {
  const list = ['203.0.113.0/24', '2001:db8::/32', '127.0.0.1/32'];

  test('matches IPv4 and IPv6 blocks', () => {
    expect(ipAllowed(list, '203.0.113.77')).toBe(true);
    expect(ipAllowed(list, '203.0.114.1')).toBe(false);
    expect(ipAllowed(list, '2001:db8:ffff::1')).toBe(true);
    expect(ipAllowed(list, '2001:db9::1')).toBe(false);
    expect(ipAllowed(list, '127.0.0.1')).toBe(true);
    expect(ipAllowed(list, '127.0.0.2')).toBe(false);
  });

  test('an IPv4-mapped IPv6 address is matched by the IPv4 rules, and the other way round', () => {
    expect(ipAllowed(list, '::ffff:127.0.0.1')).toBe(true);
    expect(ipAllowed(list, '::ffff:7f00:1')).toBe(true);
    expect(ipAllowed(list, '::ffff:127.0.0.2')).toBe(false);
    expect(ipAllowed(list, '::ffff:203.0.113.9')).toBe(true);
    expect(ipAllowed(['::ffff:127.0.0.1/128'], '127.0.0.1')).toBe(true);
    expect(ipAllowed(['::ffff:127.0.0.1/128'], '127.0.0.2')).toBe(false);
  });

  test('anything that is not an address is refused', () => {
    expect(ipAllowed(list, '')).toBe(false);
    expect(ipAllowed(['0.0.0.0/0', '::/0'], 'localhost')).toBe(false);
    expect(ipAllowed(['::/0'], 'fe80::1%eth0')).toBe(false);
  });
});

test('ipAllowlistProblem names the bad entry', () => {
  expect(ipAllowlistProblem(undefined)).toBeUndefined();
  expect(ipAllowlistProblem(['10.0.0.0/8', '::1'])).toBeUndefined();
  expect(ipAllowlistProblem([])).toMatch(/non-empty/);
  expect(ipAllowlistProblem('10.0.0.0/8')).toMatch(/non-empty array/);
  expect(ipAllowlistProblem(['10.0.0.0/8', '10.0.0.0/99'])).toMatch(/^ip_allowlist\[1\] must be a CIDR block/);
  expect(ipAllowlistProblem([42])).toMatch(/^ip_allowlist\[0\]/);
});
