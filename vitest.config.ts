import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests run the TypeScript sources, and so do the `tessera` processes they spawn
    // (never a stale or absent packages/server/dist; packages/server/bin/launch.js).
    env: { TESSERA_FROM_SOURCE: '1' },
    include: ['packages/*/test/**/*.test.ts', 'packages/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'packages/*/test/e2e/**', 'packages/*/test/peers/**', 'packages/*/test/fault/**', 'packages/*/test/scale/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
