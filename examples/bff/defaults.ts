/**
 * The example's settings, matching examples/bff/tessera.yaml. `npm run bff`
 * uses them for every BFF_* variable the environment leaves unset.
 */
export const EXAMPLE_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  BFF_ISSUER: 'http://localhost:3000',
  BFF_CLIENT_ID: 'bff-example',
  // The example secret from tessera.yaml; never use it for anything real.
  BFF_CLIENT_SECRET: 'example-bff-secret-change-me-0123456789abcdef',
  BFF_REDIRECT_URI: 'http://localhost:4000/bff/callback',
  BFF_POST_LOGOUT_REDIRECT_URI: 'http://localhost:4000/',
  BFF_SCOPE: 'openid profile email demo:read demo:write',
  BFF_RESOURCE: 'https://api.example.com/bff-demo',
  BFF_HOST: '127.0.0.1',
});

/** The demo user declared in tessera.yaml. */
export const DEMO_USER = { username: 'demo', password: 'demo-password-change-me' };
