/**
 * Files that hold secrets stay out of version control (issue 19, item 9):
 * every configuration file the README has a newcomer write, the data
 * directory (database, generated key-encryption secret) and local env files
 * are ignored by the repository's .gitignore, checked with git itself.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

/** True when git would ignore `path` (relative to the repository root); the file need not exist. */
function ignored(path: string): boolean {
  try {
    execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('.gitignore covers files that hold secrets', () => {
  test('the files the README asks a newcomer to create', () => {
    const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
    const created = [...readme.matchAll(/Create `([^`]+)`/g)].map((m) => m[1]!);
    expect(created).toContain('tessera.yaml');
    for (const file of created) expect(ignored(file), file).toBe(true);
    // The walkthrough's file holds a client secret: that is why it matters.
    expect(readme).toMatch(/client_secret: change-me/);
  });

  test('local configuration variants, env files and the data directory', () => {
    for (const file of ['tessera.yml', 'tessera.json', 'tessera.prod.yaml', '.env', '.env.local', 'data/secret', 'data/tessera.db']) {
      expect(ignored(file), file).toBe(true);
    }
  });

  test('committed examples stay committed', () => {
    for (const file of ['examples/tessera.yaml', 'README.md', 'packages/server/src/cli.ts']) expect(ignored(file), file).toBe(false);
  });
});
