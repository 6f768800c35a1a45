// ESLint flat config for the whole workspace (`npm run lint` = `eslint .`).
// Non-type-aware on purpose: `npm run typecheck` does the type checking, and
// lint stays fast (no TypeScript program is built here).
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The Node.js globals our plain JavaScript files (bin/ launchers, bench
// workers, this file) may use.
// Listed here rather than pulled from the `globals` package, which is only a
// transitive dependency of eslint and not one of ours.
const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'global', 'globalThis',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate',
    'clearImmediate', 'queueMicrotask', 'structuredClone', 'AbortController',
    'AbortSignal', 'TextEncoder', 'TextDecoder', 'fetch', 'Request', 'Response',
    'Headers', 'crypto', 'performance', 'EventTarget', 'Event',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  {
    ignores: [
      '**/node_modules/**',
      '**/data/**',
      '**/dist/**',
      '**/coverage/**',
      '**/.tmp/**',
    ],
  },
  js.configs.recommended,
  // Applies the TypeScript parser to every file, and for .ts/.tsx/.mts/.cts
  // turns off core rules that TypeScript itself already checks (no-undef...).
  tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs'],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: nodeGlobals,
    },
  },
  // Scripts that run in the browser (example pages, the demo shell).
  {
    files: ['examples/shell/public/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['document', 'window', 'location', 'sessionStorage', 'localStorage', 'navigator', 'HTMLElement', 'CustomEvent']
        .map((name) => [name, 'readonly'])),
    },
  },
  // The sign-in pipeline knows no method (docs/architecture: "Sign-in methods"): methods
  // register themselves with platform.signIn and import interaction/, never the other way.
  {
    files: ['packages/server/src/interaction/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/mfa/**', '**/mfa', '**/federation/**', '**/federation', '**/directories/**', '**/directories'],
          message: 'interaction/ imports no sign-in method: register the method with platform.signIn instead.',
        }],
      }],
    },
  },
);
