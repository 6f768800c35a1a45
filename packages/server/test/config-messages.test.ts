/**
 * Configuration messages a person can act on (issue 19, item 8): grammar
 * ("an array"), the YAML error's line and column with the line itself, and
 * "did you mean …?" for misspelt keys, values and TESSERA_* variables.
 */
import { describe, expect, test } from 'vitest';
import { loadSettings, parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { unknownTesseraVariables } from '../src/config/env-hints.js';
import { closest, editDistance } from '../src/config/suggest.js';

function failure(text: string): ConfigError {
  try {
    parseDeclarative(text, 'tessera.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('the file', () => {
  test('types with the right article and what was found', () => {
    expect(failure('users: nope\n').problems).toEqual(['users: must be an array (got a string)']);
    expect(failure('apis:\n  - identifier: https://a.example\n    name: A\n    scopes: read\n').problems).toEqual(['apis[0].scopes: must be an array (got a string)']);
    expect(failure('tenants:\n  - nope\n').problems).toEqual(['tenants[0]: must be an object (got a string)']);
    expect(failure('clients:\n  - client_id: 7\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n').problems)
      .toEqual(['clients[0].client_id: must be a string (got a number)']);
    expect(failure('tenants:\n  - id: a\n').problems).toEqual(['tenants[0].name: is required']);
  });

  test('misspelt keys at every depth get a suggestion; unrelated ones do not', () => {
    const problems = failure([
      'clints: []',
      'tenants:',
      '  - id: acme',
      '    name: Acme',
      '    policy:',
      '      registraton: open',
      '      password:',
      '        min_lenght: 12',
      'clients:',
      '  - client_id: shop',
      '    token_endpoint_auth_method: none',
      '    redirect_uri: [https://shop.example/cb]',
      '    redirect_uris: [https://shop.example/cb]',
      '    colour: blue',
    ].join('\n')).problems;
    expect(problems).toEqual(expect.arrayContaining([
      '(root): unknown key "clints" (did you mean "clients"?)',
      'tenants[0].policy: unknown key "registraton" (did you mean "registration"?)',
      'tenants[0].policy.password: unknown key "min_lenght" (did you mean "min_length"?)',
      'clients[0]: unknown keys "redirect_uri" (did you mean "redirect_uris"?), "colour"',
    ]));
  });

  test('misspelt values of a closed list get a suggestion', () => {
    expect(failure('clients:\n  - client_id: svc\n    client_secret: a-secret-of-at-least-32-characters-0123\n    grant_types: [client_credential]\n').problems)
      .toEqual(['clients[0].grant_types[0]: must be one of authorization_code, refresh_token, client_credentials, password, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange (did you mean "client_credentials"?)']);
  });

  test('a YAML syntax error: one line with line and column, then the lines with a caret', () => {
    const err = failure('tenants:\n  - id: acme\n   name: Acme\n');
    expect(err.message).toBe([
      'invalid configuration in tessera.yaml: not valid YAML or JSON: line 3, column 1: Sequence item without - indicator',
      '  2 |   - id: acme',
      '  3 |    name: Acme',
      '    | ^',
    ].join('\n'));
    const dup = failure('tenants: []\nclients: []\ntenants: []\n');
    expect(dup.message).toContain('line 3, column 1: Map keys must be unique');
    expect(dup.message).toContain('  3 | tenants: []\n    | ^');
    const json = failure('{"clients": [}');
    expect(json.problems[0]).toMatch(/^not valid YAML or JSON: line 1, column \d+: /);
  });
});

describe('the environment', () => {
  test('one problem, one line; closed lists named', () => {
    expect(() => loadSettings({ LOG_LEVEL: 'verbose' })).toThrow('invalid configuration in the environment: LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent');
    expect(() => loadSettings({ PORT: 'abc' })).toThrow(/^invalid configuration in the environment: PORT: must be a number$/);
  });

  test('unknown TESSERA_* variables are named with a suggestion', () => {
    expect(unknownTesseraVariables({ TESSERA_ISUER: 'x', TESSERA_SECRET: 'y', PATH: '/bin', TESSERA_FROBNICATE: '1' })).toEqual([
      'TESSERA_FROBNICATE is not a Tessera setting and is ignored',
      'TESSERA_ISUER is not a Tessera setting and is ignored (did you mean TESSERA_ISSUER?)',
    ]);
  });
});

describe('suggestions', () => {
  test('edit distance counts swaps as one; only close words are suggested', () => {
    expect(editDistance('frist', 'first')).toBe(1);
    expect(editDistance('redirect_uri', 'redirect_uris')).toBe(1);
    expect(closest('colour', ['client_id', 'scope', 'tenant'])).toBeUndefined();
    expect(closest('ab', ['ba', 'xy'])).toBe('ba');
  });
});
