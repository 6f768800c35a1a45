import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests run the TypeScript sources, and so do the `tessera` processes they spawn
    // (never a stale or absent packages/server/dist; packages/server/bin/launch.js).
    // TESSERA_TEST_BUILD=1 (CI's "tests (compiled build)" step, after `npm run build`)
    // lets the spawned processes run the bundled build instead, as `npm start` does.
    env: process.env.TESSERA_TEST_BUILD === '1' ? {} : { TESSERA_FROM_SOURCE: '1' },
    include: ['packages/*/test/**/*.test.ts', 'packages/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'packages/*/test/e2e/**', 'packages/*/test/peers/**', 'packages/*/test/fault/**', 'packages/*/test/scale/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
