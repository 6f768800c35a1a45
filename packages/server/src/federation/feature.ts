import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import type { SignInFlow } from '../interaction/flow.js';
import { registerCatalogue } from '../i18n/index.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import { createExternalLinkRepository } from './links.js';
import { LinkRequests } from './link-requests.js';
import { FlowStore } from './flows.js';
import { UpstreamClients } from './upstream.js';
import { ClientKeyStore } from './client-keys.js';
import { registerClientKeyRoutes } from './client-key-routes.js';
import { federationMethod } from './method.js';
import type { FederationMethodDeps } from './method.js';
import { registerAccountLinks } from './account-links.js';
import { ProfileCompletion } from './profile-completion.js';
import { federationAccountStep, federationFinishHook } from './account-step.js';
import { federationCatalogue } from './catalog.js';
import { samlRoundTrip } from './saml/routes.js';
import { SamlKeyStore } from './saml/keys.js';
import { FederatedSessions } from './sessions.js';
import { federatedLogoutEngine, federatedLogoutRoutes } from './logout.js';
import { AccessService } from '../account/access.js';
import { createSessionMetaRepository } from '../account/session-meta.js';

/**
 * Federation (docs/federation.md): upstream providers as a sign-in method,
 * the account step that turns their identities into accounts, and the
 * finish hook that makes proven links. The registry itself is on the
 * Platform (platform.identityProviders).
 */
export function federationFeature(app: FastifyInstance, p: Platform): void {
  registerCatalogue(federationCatalogue);
  let flow: SignInFlow | undefined;
  const clientKeys = new ClientKeyStore(p.db, p.kek);
  const clients = new UpstreamClients(clientKeys);
  // private_key_jwt: the providers' public client keys (client-key-routes.ts).
  registerClientKeyRoutes(app, { registry: p.identityProviders, keys: clientKeys });
  const flows = new FlowStore(p.db, p.kek);
  const sessions = new FederatedSessions(p.db, p.kek);
  const saml = samlRoundTrip({
    registry: p.identityProviders, flows, keys: new SamlKeyStore(p.db, p.kek), payloads: p.payloads, issuer: p.settings.issuer,
    secureCookies: p.secureCookies, events: p.events, metrics: p.metrics, log: p.log,
  });
  const methodDeps: FederationMethodDeps = {
    registry: p.identityProviders, clients, flows, issuer: p.settings.issuer, saml,
    secureCookies: p.secureCookies, events: p.events, metrics: p.metrics, log: p.log, provider: p.provider, sessions,
    localLogin: async (tenantId) => ((await p.tenants.findById(tenantId))?.policy ?? DEFAULT_POLICY).local_login,
  };
  const method = federationMethod(methodDeps);
  // Connected accounts on /account: their round trips come back through the method's callback (account-links.ts).
  methodDeps.accountLink = registerAccountLinks(app, {
    db: p.db, sessions: p.accountSessions, secure: p.secureCookies, registry: p.identityProviders, clients, flows,
    links: createExternalLinkRepository(p.db), users: p.users, issuer: p.settings.issuer, events: p.events, log: p.log,
  });
  // Federated logout: to the upstream on sign-out, and the upstream's back-channel logout tokens (logout.ts).
  const logout = {
    registry: p.identityProviders, clients, flows, sessions, issuer: p.settings.issuer, events: p.events, log: p.log,
    access: new AccessService({ payloads: p.payloads, meta: createSessionMetaRepository(p.db), clients: p.clients, provider: p.provider, events: p.events, log: p.log }),
  };
  p.onEngine(federatedLogoutEngine(logout));
  federatedLogoutRoutes(app, logout);
  p.signIn.register({
    ...method,
    // The flow arrives with the routes (app.ts); the account step needs it to show the link page.
    routes(app, f) {
      flow = f;
      method.routes?.(app, f);
    },
  });
  const signInFlow = () => {
    if (!flow) throw new Error('federation: the sign-in flow is not wired yet');
    return flow;
  };
  // Required email missing or unverified: asked for and confirmed by mail (profile-completion.ts).
  const profile = new ProfileCompletion({ db: p.db, kek: p.kek, registry: p.identityProviders, mailer: p.mailer, log: p.log, flow: signInFlow });
  profile.routes(app);
  const deps = {
    db: p.db, registry: p.identityProviders, links: createExternalLinkRepository(p.db), linkRequests: new LinkRequests(p.db),
    users: p.users, roles: p.roles, events: p.events, metrics: p.metrics, log: p.log, sessions, profile, flow: signInFlow,
  };
  p.signIn.setAccountStep(federationAccountStep(deps));
  p.signIn.onFinish(federationFinishHook(deps));
}
