/**
 * A JSON configuration file is read without the YAML parser (issue 20:
 * config/strict-json.ts), and reads exactly as the YAML parser would read it:
 * same values, and a key given twice still refused with the YAML message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { hasRepeatedKey, parseStrictJson } from '../src/config/strict-json.js';
import { parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';

describe('hasRepeatedKey', () => {
  test.each([
    ['{"a":1,"a":2}', true],
    ['{"a":1,"b":2}', false],
    ['{"a":{"a":1},"b":{"a":2}}', false],
    ['{"a":{"x":1,"x":2}}', true],
    ['[{"a":1},{"a":1}]', false],
    ['[{"a":1,"a":1}]', true],
    ['{"a":{},"a":[]}', true],
    ['{"a":[{},"a",{"a":"a"}],"b":"a"}', false],
    ['{"a":"{\\"a\\":1,\\"a\\":2}"}', false],
    ['{"\\u0061":1,"a":2}', true],
    ['{"a\\"b":1,"a\\"b":2}', true],
    ['{"a\\\\":1,"a":2}', false],
    ['"a"', false],
    ['{}', false],
  ])('%s → %s', (text, repeated) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(hasRepeatedKey(text)).toBe(repeated);
  });
});

test('text that is not JSON ends the scan (no endless loop on an unterminated string)', () => {
  expect(hasRepeatedKey('{"a": "unterminated')).toBe(false);
  expect(hasRepeatedKey('{"a\\')).toBe(false);
});

describe('parseStrictJson', () => {
  test('plain JSON reads as the YAML parser reads it', () => {
    const texts = [
      '{"clients":[{"client_id":"c","scope":"a b","n":1.5e3,"on":true,"off":null,"big":12345678901234}],"users":[]}',
      '{ "x": "line\\nbreak \\u00e9 \\ud83d\\ude00", "y": [1, -0.5, [], {}] }',
      'null',
      '[]',
    ];
    for (const text of texts) {
      const json = parseStrictJson(text);
      expect(json).toBeDefined();
      expect(json!.value).toEqual(parseYaml(text, { uniqueKeys: true }));
    }
  });

  test('anything that is not plain JSON without repeated keys is left to the YAML parser', () => {
    expect(parseStrictJson('clients: []\n')).toBeUndefined();
    expect(parseStrictJson('{"a": 1} # a comment')).toBeUndefined();
    expect(parseStrictJson('{"a": 1, "a": 2}')).toBeUndefined();
    expect(parseStrictJson('{"a": [}')).toBeUndefined();
    expect(parseStrictJson('')).toBeUndefined();
  });

  test('a JSON configuration with a repeated key is refused with the YAML message, as before', () => {
    let err: unknown;
    try {
      parseDeclarative('{"tenants": [], "clients": [], "tenants": []}', 'tessera.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('Map keys must be unique');
  });

  test('a JSON configuration reads to the same settings either way', () => {
    const text = JSON.stringify({ apis: [{ identifier: 'https://api.example.test', name: 'API', scopes: ['read'] }], clients: [{ client_id: 'svc', client_secret: 'a-secret-of-at-least-32-characters-0123', grant_types: ['client_credentials'], scope: 'read' }] });
    expect(parseDeclarative(text, 'tessera.json')).toEqual(parseDeclarative(`# the same as YAML\n${text}`, 'tessera.yaml'));
  });
});

describe('tessera serve with TESSERA_CONFIG=….json', () => {
  // main.ts does not load the YAML parser ahead for a .json file; one that is not plain JSON still reads through it.
  test.each([
    ['# a comment\n{"clients": 5}', 'clients: must be an array'],
    ['{"clients": [], "clients": []}', 'Map keys must be unique'],
  ])('%j → refused at start: %s', (text, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-json-'));
    const file = join(dir, 'tessera.json');
    writeFileSync(file, text);
    const env = { ...process.env, TESSERA_CONFIG: file, TESSERA_DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, PORT: '0' };
    const r = spawnSync(process.execPath, [resolve(import.meta.dirname, '../bin/tessera.js'), 'serve'], { encoding: 'utf8', env, timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr + r.stdout).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(file);
  }, 90_000);
});
