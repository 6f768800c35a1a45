import { defineConfig } from 'vitest/config';

/** Browser tests: headless Debian Chromium driven by playwright-core (`npm run test:e2e`). */
export default defineConfig({
  test: {
    include: ['packages/*/test/e2e/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 90_000,
    pool: 'forks',
    // Two cores: one browser at a time keeps timings sane.
    fileParallelism: false,
  },
});
