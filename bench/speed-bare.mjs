// The bare engine of `npm run bench` (bench/speed.ts), in its own process:
// the same oidc-provider package Tessera runs, configured for the same
// scenarios (client credentials with an ES256 JWT for the bench API, refresh
// with rotation, UserInfo, introspection), with an in-memory store that never
// evicts (the engine's own memory adapter is an LRU of 1000 entries, which
// would drop tokens under load and make the bare engine look faster than it
// is). Plain JavaScript, started with `node` alone: no TypeScript loader.
//
// Setup only (not timed): POST /__bench/seed?n=N creates N grants, each with
// a refresh token and an opaque access token for the bench user, as a
// sign-in would, and answers their values.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

const { port, api, secret, features = 'minimal' } = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const USER_ID = 'bench-user';

/** Every model's entries in plain Maps (with expiry), indexed by grant for revokeByGrantId. */
const models = new Map();
const byGrant = new Map();
class MapAdapter {
  constructor(name) {
    if (!models.has(name)) models.set(name, new Map());
    this.map = models.get(name);
    this.name = name;
  }
  async upsert(id, payload, expiresIn) {
    this.map.set(id, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.grantId) {
      let set = byGrant.get(payload.grantId);
      if (!set) byGrant.set(payload.grantId, (set = new Set()));
      set.add(`${this.name} ${id}`);
    }
  }
  async find(id) {
    const e = this.map.get(id);
    if (!e) return undefined;
    if (e.exp < Date.now()) { this.map.delete(id); return undefined; }
    return e.payload;
  }
  async findByUid(uid) {
    for (const [id, e] of this.map) if (e.payload.uid === uid) return this.find(id);
    return undefined;
  }
  async findByUserCode(code) {
    for (const [id, e] of this.map) if (e.payload.userCode === code) return this.find(id);
    return undefined;
  }
  async consume(id) {
    const e = this.map.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { this.map.delete(id); }
  async revokeByGrantId(grantId) {
    for (const key of byGrant.get(grantId) ?? []) {
      const [name, id] = key.split(' ');
      models.get(name)?.delete(id);
    }
    byGrant.delete(grantId);
  }
}

// Tessera's keys: RS256 (which signs ID tokens, the engine's default) and ES256 (JWT access tokens).
const rsa = (await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })).privateKey;
const ec = (await generateKeyPair('ES256', { extractable: true })).privateKey;
const keys = [
  { ...(await exportJWK(rsa)), kid: 'bench-rs256', alg: 'RS256', use: 'sig' },
  { ...(await exportJWK(ec)), kid: 'bench-es256', alg: 'ES256', use: 'sig' },
];
// `features: 'tessera'` (speed-ab's `bare-tessera`, not part of `npm run bench`): the engine features and
// options Tessera's configuration turns on (oidc/provider.ts), without any of Tessera's hooks, policies or
// middlewares, to tell what the engine itself spends for them from what Tessera adds around it.
const TESSERA_FEATURES = {
  jwtUserinfo: { enabled: true },
  claimsParameter: { enabled: true },
  revocation: { enabled: true },
  userinfo: { enabled: true },
  backchannelLogout: { enabled: true },
  rpInitiatedLogout: { enabled: true },
  pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
  deviceFlow: { enabled: true },
  dPoP: { enabled: true, allowReplay: false },
};
const TESSERA_OPTIONS = features === 'tessera' ? {
  responseTypes: ['code'],
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  pkce: { required: () => true },
  allowOmittingSingleRegisteredRedirectUri: false,
  clockTolerance: 5,
  extraParams: ['tenant', 'idp_hint'],
  acrValues: ['urn:tessera:acr:pwd', 'urn:tessera:acr:mfa'],
  scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'roles'],
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'ES256'], userinfoSigningAlgValues: ['RS256', 'ES256'], introspectionSigningAlgValues: ['RS256', 'ES256'],
    authorizationSigningAlgValues: ['RS256', 'ES256'], dPoPSigningAlgValues: ['ES256', 'EdDSA', 'PS256', 'RS256'],
    requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'], clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
  },
  cookies: { keys: [randomBytes(32).toString('base64url')], long: { httpOnly: true, sameSite: 'lax', signed: true }, short: { httpOnly: true, sameSite: 'lax', signed: true } },
} : {};
const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: 'bench-client', client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'bench-rp', client_secret: secret, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
  claims: { openid: ['sub'], profile: ['name', 'given_name', 'family_name', 'preferred_username'] },
  async findAccount(_ctx, id) {
    return { accountId: id, async claims() { return { sub: id, name: 'Bench User', given_name: 'Bench', family_name: 'User', preferred_username: 'bench-user' }; } };
  },
  rotateRefreshToken: true,
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    AccessToken: 3600, RefreshToken: 14 * 86400, Grant: 14 * 86400, Session: 86400, Interaction: 3600, IdToken: 3600, AuthorizationCode: 60,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // Tessera's policy for this case: a client introspects its own tokens (checked here as cheaply).
    introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    ...(features === 'tessera' ? TESSERA_FEATURES : {}),
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== api) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        return { scope: 'read', audience: api, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  ...TESSERA_OPTIONS,
});

async function seed(n) {
  const client = await provider.Client.find('bench-rp');
  const out = { refresh: [], access: [] };
  for (let i = 0; i < n; i++) {
    const grant = new provider.Grant({ accountId: USER_ID, clientId: client.clientId });
    grant.addOIDCScope('openid offline_access profile');
    const grantId = await grant.save();
    const common = { client, accountId: USER_ID, grantId, gty: 'authorization_code' };
    out.refresh.push(await new provider.RefreshToken({ ...common, scope: 'openid offline_access profile', authTime: Math.floor(Date.now() / 1000) }).save());
    out.access.push(await new provider.AccessToken({ ...common, scope: 'openid profile' }).save());
  }
  return out;
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/__bench/seed')) {
    const n = Number(new URL(req.url, issuer).searchParams.get('n') ?? 1);
    seed(n).then((out) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out)),
      (err) => res.writeHead(500).end(String(err?.stack ?? err)));
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.stdout.write('bare engine listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
