import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import { ClientRegistry } from './adapter.js';
import { handleMe } from './facebook.js';
import { handleInteraction, sendHtml } from './interaction.js';
import { errorPage, escapeHtml, page } from './pages.js';
import { DEFAULT_LOCAL_EMAIL, MOCK_NAMES, resolvePersonas, type MockName, type Persona, type PersonaInput } from './personas.js';
import { createMockProvider } from './provider.js';
import { isScenario, type Scenario, type SignIn } from './scenarios.js';
import { createSigner } from './tamper.js';
import { startMockDirectory, type MockDirectory } from './ldap.js';
import { handleLdapPage } from './ldap-page.js';
import { serverTls } from './cert.js';
import { createSamlIdp, type MockSamlIdp, type SamlServiceProvider } from './saml.js';
import { PRODUCTION_REFUSAL } from './refusal.js';

export interface MockClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post';
  backchannel_logout_uri?: string;
  /** Default true with a backchannel_logout_uri: ID tokens then carry `sid`, which logout tokens name. */
  backchannel_logout_session_required?: boolean;
}

/** Client metadata as the engine takes it (sid in ID tokens whenever back-channel logout is wanted). */
const asMetadata = (c: MockClient) => ({ ...(c.backchannel_logout_uri ? { backchannel_logout_session_required: true } : {}), ...c });

export interface MockOptions {
  /** Default 4000; 0 picks a free port. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Base of the issuers; default http://{host}:{port}. */
  publicUrl?: string;
  /** Default: the built-in set (DEFAULT_PERSONAS). */
  personas?: PersonaInput[];
  /** Email of an existing local Tessera account, claimed by `duplicate` and `link_required`. */
  localEmail?: string;
  /** How long the `slow` scenario holds back-channel answers; default 10 s. */
  slowMs?: number;
  /** Tessera's base URL, for the default client's redirect URIs; default http://localhost:3000. */
  tesseraUrl?: string;
  /** Clients registered on every mock; default one client `tessera` / `tessera-mock-secret`. */
  clients?: MockClient[];
  /** The environment checked for NODE_ENV=production; default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The mock LDAP directory: plain port (default 3890), LDAPS port (default 6360; false: none), both
   * free ones when `port` is 0; base and service account. false: no directory.
   */
  ldap?: false | { port?: number; ldapsPort?: number | false; baseDn?: string; bindDn?: string; bindPassword?: string };
  /** The mock SAML IdP at /saml: its service providers (default: Tessera's alias `saml`); false: none. */
  saml?: false | { serviceProviders?: SamlServiceProvider[] };
}

export interface MockEndpoints {
  name: MockName;
  issuer: string;
  /** Absent on facebook (OAuth 2.0 only). */
  discoveryUrl?: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint?: string;
  jwksUri?: string;
  endSessionEndpoint?: string;
  /** facebook only: the Graph API `/me`. */
  profileEndpoint?: string;
  clientId: string;
  clientSecret: string;
}

export interface MockProviders {
  url: string;
  port: number;
  providers: Record<MockName, MockEndpoints>;
  personas: Persona[];
  localEmail: string;
  /** Every completed sign-in, oldest first (tests assert what was emitted). */
  emitted: SignIn[];
  registerClient(mock: MockName | 'all', client: MockClient): void;
  addRedirectUri(mock: MockName | 'all', uri: string, clientId?: string): void;
  nextSignIn(mock: MockName, persona: string, scenario?: Scenario): void;
  /** The mock LDAP directory (absent with `ldap: false`). */
  ldap?: MockDirectory;
  /** The mock SAML IdP (absent with `saml: false`). */
  saml?: MockSamlIdp;
  close(): Promise<void>;
}

export const DEFAULT_CLIENT_ID = 'tessera';
export const DEFAULT_CLIENT_SECRET = 'tessera-mock-secret';
const LABELS: Record<MockName, string> = { google: 'Mock Google', facebook: 'Mock Facebook', entra: 'Mock Entra ID', keycloak: 'Mock Keycloak' };
/** Facebook answers only on its own paths: no discovery, no JWKS, no userinfo. */
const FACEBOOK_PATHS = /^\/(dialog\/oauth(\/[\w-]+)?|oauth\/access_token)$/;
const MAX_REMEMBERED = 10_000;

/** Refusal to run in production; the CLI prints the message and exits 1. */
export class ProductionRefusedError extends Error {
  constructor() {
    super(PRODUCTION_REFUSAL);
  }
}

/**
 * Starts the mock Google, Facebook, Entra ID and Keycloak on one port, each under its own issuer
 * path. @throws ProductionRefusedError with NODE_ENV=production; PersonaError for bad personas.
 */
export async function startMockProviders(options: MockOptions = {}): Promise<MockProviders> {
  if ((options.env ?? process.env).NODE_ENV === 'production') throw new ProductionRefusedError();
  const personas = resolvePersonas(options.personas);
  const localEmail = options.localEmail ?? DEFAULT_LOCAL_EMAIL;
  const slowMs = options.slowMs ?? 10_000;
  const host = options.host ?? '127.0.0.1';
  const tesseraUrl = (options.tesseraUrl ?? 'http://localhost:3000').replace(/\/$/, '');

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 4000, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = (options.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/$/, '');

  // State shared by the mocks: who signed in how, pending slow answers, queued choices.
  const emitted: SignIn[] = [];
  const byGrant = new Map<string, SignIn>();
  const bySub = new Map<string, SignIn>();
  const queues = new Map<MockName, { persona: string; scenario: Scenario }[]>();
  const sleeping = new Set<() => void>();
  const slow = () => new Promise<void>((resolve) => {
    const done = () => { clearTimeout(timer); sleeping.delete(done); resolve(); };
    const timer = setTimeout(done, slowMs);
    sleeping.add(done);
  });
  const remember = <K, V>(map: Map<K, V>, key: K, value: V) => {
    map.delete(key);
    map.set(key, value);
    if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value as K);
  };

  const registries = new Map<MockName, ClientRegistry>();
  const providers = new Map<MockName, Provider>();
  const endpoints = {} as Record<MockName, MockEndpoints>;
  const rogueIssuer = (name: MockName) => `${url}/${MOCK_NAMES[(MOCK_NAMES.indexOf(name) + 2) % MOCK_NAMES.length]}`;
  for (const name of MOCK_NAMES) {
    const issuer = `${url}/${name}`;
    const clients = new ClientRegistry();
    const defaults = options.clients ?? [{
      client_id: DEFAULT_CLIENT_ID, client_secret: DEFAULT_CLIENT_SECRET,
      redirect_uris: [`${tesseraUrl}/federation/${name}/callback`], post_logout_redirect_uris: [`${tesseraUrl}/`],
    }];
    for (const c of defaults) clients.set(asMetadata(c));
    const { signer, privateJwk } = await createSigner(name);
    const provider = createMockProvider({
      name, issuer, clients, signingKey: privateJwk, signer, otherIssuer: rogueIssuer(name), slow,
      signInForGrant: (id) => (id ? byGrant.get(id) : undefined),
      signInForSub: (sub) => bySub.get(sub),
    });
    registries.set(name, clients);
    providers.set(name, provider);
    const first = defaults[0]!;
    const fb = name === 'facebook';
    endpoints[name] = {
      name, issuer,
      ...(fb ? {} : { discoveryUrl: `${issuer}/.well-known/openid-configuration` }),
      authorizationEndpoint: fb ? `${issuer}/dialog/oauth` : `${issuer}/auth`,
      tokenEndpoint: fb ? `${issuer}/oauth/access_token` : `${issuer}/token`,
      ...(fb ? { profileEndpoint: `${issuer}/me` } : {
        userinfoEndpoint: `${issuer}/me`, jwksUri: `${issuer}/jwks`, endSessionEndpoint: `${issuer}/session/end`,
      }),
      clientId: first.client_id, clientSecret: first.client_secret,
    };
  }

  const interactionDeps = (name: MockName) => ({
    name, label: LABELS[name], provider: providers.get(name)!, personas, localEmail,
    takeQueued: () => queues.get(name)?.shift(),
    record: (signIn: SignIn, grantId: string) => {
      remember(byGrant, grantId, signIn);
      remember(bySub, signIn.sub, signIn);
      emitted.push(signIn);
      if (emitted.length > MAX_REMEMBERED) emitted.shift();
    },
  });
  const ldapOptions = options.ldap === false ? undefined : options.ldap ?? {};
  const ephemeral = (options.port ?? 4000) === 0;
  const ldapsPort = ldapOptions?.ldapsPort ?? (ephemeral ? 0 : 6360);
  const directory = ldapOptions && await startMockDirectory({
    port: ldapOptions.port ?? (ephemeral ? 0 : 3890), host,
    ...(ldapsPort === false ? {} : { tls: { port: ldapsPort, material: await serverTls(new URL(url).hostname.replace(/^\[|\]$/g, '')) } }),
    baseDn: ldapOptions.baseDn ?? 'dc=example,dc=com', bindDn: ldapOptions.bindDn ?? 'cn=admin,dc=example,dc=com',
    bindPassword: ldapOptions.bindPassword ?? 'admin-secret', localEmail, personas, slow,
  }).catch(async (err: unknown) => {
    server.close();
    throw err;
  });
  const samlIdp = options.saml === false ? undefined : await createSamlIdp({
    baseUrl: url, personas, localEmail,
    serviceProviders: options.saml?.serviceProviders ?? [{
      entityId: `${tesseraUrl}/federation/saml/saml/metadata`, acsUrls: [`${tesseraUrl}/federation/saml/saml/acs`],
    }],
  });
  const callbacks = new Map([...providers].map(([n, p]) => [n, p.callback()]));

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      console.error('mock-providers: unexpected error', err);
      if (!res.headersSent) sendHtml(res, 500, errorPage('Mock error', 'The mock failed unexpectedly; see its log.'));
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const full = new URL(req.url ?? '/', url);
    const [, first = '', ...restParts] = full.pathname.split('/');
    const rest = '/' + restParts.join('/');
    if (full.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) return sendHtml(res, 200, indexPage());
    if (full.pathname === '/ldap' && directory) return handleLdapPage(directory, personas, req, res);
    if (full.pathname === '/ldap/ca.pem' && directory?.caCertificatePem) {
      res.writeHead(200, { 'content-type': 'application/x-pem-file', 'cache-control': 'no-store' }).end(directory.caCertificatePem);
      return;
    }
    if (first === 'saml' && samlIdp) return samlIdp.handle(rest, req, res, full);
    const name = MOCK_NAMES.find((n) => n === first);
    if (!name) return sendHtml(res, 404, errorPage('Not found', `No mock at ${full.pathname}. Mocks: ${MOCK_NAMES.map((n) => `/${n}`).join(', ')}.`));
    const interaction = rest.match(/^\/interaction\/([\w-]+)$/);
    if (interaction) return handleInteraction(interactionDeps(name), interaction[1]!, req, res);
    if (name === 'facebook') {
      if (/^\/(v\d+\.\d+\/)?me$/.test(rest)) {
        return handleMe({ provider: providers.get(name)!, clients: registries.get(name)!, slow, signInForGrant: (id) => (id ? byGrant.get(id) : undefined) }, req, res, full);
      }
      if (!FACEBOOK_PATHS.test(rest)) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Unknown path (the mock Facebook is OAuth 2.0 only)', type: 'OAuthException', code: 803 } }));
        return;
      }
    }
    // oidc-provider works out its mount path from originalUrl minus url (as under Express).
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
    req.url = rest + full.search;
    callbacks.get(name)!(req, res);
  }

  function indexPage(): string {
    const rows = MOCK_NAMES.map((n) => `<tr><td>${LABELS[n]}</td><td><code>${escapeHtml(endpoints[n].issuer)}</code></td></tr>`).join('');
    const people = personas.map((p) => `<li><code>${escapeHtml(p.id)}</code> ${escapeHtml(p.name)} ${escapeHtml(p.email ?? '')}</li>`).join('');
    return page('Mock identity providers', `<h1>Mock identity providers</h1><table><tbody>${rows}</tbody></table><h2>Personas</h2><ul>${people}</ul>`);
  }

  const pick = (mock: MockName | 'all') => (mock === 'all' ? [...MOCK_NAMES] : [mock]);
  return {
    url, port, personas, localEmail, emitted, providers: endpoints, ...(directory ? { ldap: directory } : {}),
    ...(samlIdp ? { saml: { ...samlIdp, handle: undefined } as MockSamlIdp } : {}),
    registerClient(mock, client) {
      for (const n of pick(mock)) registries.get(n)!.set(asMetadata(client));
    },
    addRedirectUri(mock, uri, clientId = DEFAULT_CLIENT_ID) {
      for (const n of pick(mock)) {
        const reg = registries.get(n)!;
        const c = reg.get(clientId);
        if (!c) throw new Error(`mock ${n}: no client ${clientId}`);
        reg.set({ ...c, redirect_uris: [...new Set([...(c.redirect_uris ?? []), uri])] });
      }
    },
    nextSignIn(mock, persona, scenario = 'ok') {
      if (!personas.some((p) => p.id === persona)) throw new Error(`unknown persona ${persona}`);
      if (!isScenario(scenario)) throw new Error(`unknown scenario ${scenario}`);
      const q = queues.get(mock) ?? [];
      q.push({ persona, scenario });
      queues.set(mock, q);
    },
    async close() {
      for (const wake of [...sleeping]) wake();
      await directory?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
