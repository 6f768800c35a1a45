import { defineConfig } from 'vitest/config';

/**
 * Multi-process suite (`npm run test:scale`, docs/scaling.md): three real
 * `tessera serve` instances behind Debian's haproxy on PostgreSQL and a Redis
 * of the suite's own, and `--workers 2` on SQLite and PostgreSQL. Out of
 * `npm test` (it needs haproxy and redis-server, and starts many processes);
 * .ci/run runs it. One file at a time: each starts several servers.
 */
export default defineConfig({
  test: {
    // Tests run the TypeScript sources, and so do the `tessera` processes they spawn
    // (never a stale or absent packages/server/dist; packages/server/bin/launch.js).
    // The processes run the sources, or the bundled build with TESSERA_TEST_BUILD=1 (CI: the build as `npm start` runs it).
    env: process.env.TESSERA_TEST_BUILD === '1' ? {} : { TESSERA_FROM_SOURCE: '1' },
    include: ['packages/*/test/scale/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
