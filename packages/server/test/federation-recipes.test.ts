/**
 * The provider declarations of docs/federation.md#recipes (Google, Facebook,
 * Entra ID, Keycloak, Okta) are valid as written: each parses as a
 * configuration file's `identity_providers` entry.
 */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { parseDeclarative } from '../src/config/load.js';

const doc = readFileSync(new URL('../../../docs/federation.md', import.meta.url), 'utf8');
const recipes = doc.slice(doc.indexOf('## Recipes'));
const blocks = [...recipes.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('every recipe is a valid provider declaration', () => {
  expect(blocks).toHaveLength(5);
  const file = `identity_providers:\n${blocks.map((b) => b.trimEnd().replace(/^/gm, '  ')).join('\n')}\n`;
  const parsed = parseDeclarative(file, 'docs/federation.md#recipes');
  expect(parsed.identity_providers.map((p) => (p as { alias: string }).alias)).toEqual(['google', 'facebook', 'corp', 'keycloak', 'okta']);
});
