/** The declarative configuration most integration tests run with. */
export const API = 'https://api.example.test';
export const CONF_SECRET = 'confidential-secret-0123456789-abcdefghij';
export const SERVICE_SECRET = 'service-secret-0123456789-abcdefghijklmn';
export const REDIRECT = 'http://127.0.0.1:9/cb';

export const USER = { username: 'alice', password: 'correct horse battery staple' };

/** What the fixture's apps may request: every OpenID scope and the example API's scopes (client grants, docs/b2b.md). */
export const APP_SCOPE = 'openid offline_access profile email phone roles read write';

export const baseConfig = {
  tenants: [{ id: 'acme', name: 'Acme Corp' }],
  apis: [{ identifier: API, name: 'Example API', scopes: ['read', 'write'], signing_alg: 'ES256', access_token_ttl: 600 }],
  roles: [{ name: 'editor', tenant: 'default' }],
  clients: [
    {
      client_id: 'spa', client_name: 'Example SPA', token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT], post_logout_redirect_uris: ['http://127.0.0.1:9/after-logout'],
      grant_types: ['authorization_code', 'refresh_token'], first_party: true, scope: APP_SCOPE,
    },
    {
      client_id: 'web', client_name: 'Example Web App', client_secret: CONF_SECRET,
      redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic', scope: APP_SCOPE,
    },
    {
      client_id: 'web-post', client_name: 'Example Post App', client_secret: CONF_SECRET,
      redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_post', scope: APP_SCOPE,
    },
    {
      client_id: 'service', client_secret: SERVICE_SECRET, grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic', tenant: 'acme', scope: 'read write',
    },
  ],
  users: [
    { ...USER, email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell', roles: ['editor'] },
  ],
};
