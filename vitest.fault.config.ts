import { defineConfig } from 'vitest/config';

/**
 * Fault tests (`npm run test:fault`): the real server in child processes
 * through database outages, SIGKILL under write load and lock contention.
 * PostgreSQL cases run when TEST_DATABASE_URL is set, each on a database of
 * its own; SQLite cases always. One file at a time: they measure timings.
 */
export default defineConfig({
  test: {
    // Tests run the TypeScript sources, and so do the `tessera` processes they spawn
    // (never a stale or absent packages/server/dist; packages/server/bin/launch.js).
    // The processes run the sources, or the bundled build with TESSERA_TEST_BUILD=1 (CI: the build as `npm start` runs it).
    env: process.env.TESSERA_TEST_BUILD === '1' ? {} : { TESSERA_FROM_SOURCE: '1' },
    include: ['packages/*/test/fault/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
