import { defineConfig } from 'vitest/config';

/**
 * Tests against real third-party servers from Debian packages (apache2 with
 * mod_auth_openidc, slapd, haproxy, simplesamlphp…): `npm run test:peers`.
 * They live in packages/*\/test/peers and stay out of `npm test`, which must
 * pass on a machine without those packages; `.ci/run` installs them first.
 */
export default defineConfig({
  test: {
    // Tests run the TypeScript sources, and so do the `tessera` processes they spawn
    // (never a stale or absent packages/server/dist; packages/server/bin/launch.js).
    env: { TESSERA_FROM_SOURCE: '1' },
    include: ['packages/*/test/peers/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
  },
});
