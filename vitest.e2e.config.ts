import { defineConfig } from 'vitest/config';

/** Browser tests: headless Debian Chromium driven by playwright-core (`npm run test:e2e`). */
export default defineConfig({
  test: {
    // Tests run the TypeScript sources, and so do the `tessera` processes they spawn
    // (never a stale or absent packages/server/dist; packages/server/bin/launch.js).
    env: { TESSERA_FROM_SOURCE: '1' },
    include: ['packages/*/test/e2e/**/*.test.ts'],
    // Builds the admin console first when its sources changed (the tests serve packages/console/dist).
    globalSetup: ['packages/console/scripts/e2e-global-setup.js'],
    testTimeout: 90_000,
    hookTimeout: 90_000,
    pool: 'forks',
    // Two cores: one browser at a time keeps timings sane.
    fileParallelism: false,
  },
});
