import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { ClientRepository } from '../oidc/repository.js';
import type { UserRepository } from '../identity/repository.js';
import { ROUTES } from '../oidc/provider.js';
import { AppError } from '../http/errors.js';
import { originOf } from '../http/security.js';
import { consentPage } from './views.js';
import { finishInteraction, interactionPageContext, interactionPageHeaders, loadInteraction } from './details.js';
import type { InteractionDetails } from './details.js';
import type { SignInPipeline } from './flow.js';
import { clientName } from './sign-in-page.js';

export interface InteractionDeps {
  provider: () => Provider;
  clients: ClientRepository;
  /** The sign-in pipeline (flow.ts). */
  flow: SignInPipeline;
  /** Who is signed in, for the consent page's "Signed in as … Not you?". */
  users: Pick<UserRepository, 'findById'>;
}

/** Authorization parameters a switch of account must not carry over: they would pick or prompt for the old account. */
const NOT_CARRIED = new Set(['prompt', 'id_token_hint', 'login_hint']);

/**
 * Hosted interaction pages driving the engine's interactions: the sign-in
 * page (the pipeline's `page` entry), consent and abort. Methods own their
 * routes (identity/password-method.ts: POST /interaction/:uid/login). Forms are protected
 * from cross-site submission by the engine's SameSite interaction cookie
 * bound to the unguessable uid, plus an Origin check on every POST (http/csrf
 * in app.ts).
 */
export function registerInteractionRoutes(app: FastifyInstance, deps: InteractionDeps): void {
  const html = { config: { html: true } };
  const { flow } = deps;

  app.get('/interaction/:uid', html, async (request, reply) => {
    const { details, uid } = await load(deps, request, reply);
    if (details.prompt.name === 'login') return flow.page(request, reply, { details, uid });
    if (details.prompt.name === 'consent') {
      // First-party clients never show consent, even when the request insists (prompt=consent).
      const client = await deps.clients.find(String(details.params.client_id));
      if (client?.firstParty) return finish(deps, request, reply, { consent: { grantId: await grantMissing(deps, details) } });
      return renderConsent(deps, request, reply, details, uid);
    }
    throw new AppError('invalid_request', 400, 'This sign-in step is not supported.');
  });

  app.post('/interaction/:uid/confirm', html, async (request, reply) => {
    const { details } = await load(deps, request, reply);
    if (details.prompt.name !== 'consent') throw new AppError('invalid_request', 400, 'There is nothing to confirm.');
    const grantId = await grantMissing(deps, details);
    return finish(deps, request, reply, { consent: { grantId } });
  });

  // "Not you?" on the consent page: the same authorization request again, with prompt=login. Whoever signs in
  // then takes the place of the signed-in account (the engine ends the old session when the account differs).
  app.post('/interaction/:uid/switch', html, async (request, reply) => {
    const { details } = await load(deps, request, reply);
    if (details.prompt.name !== 'consent') throw new AppError('invalid_request', 400, 'There is no account to switch from.');
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(details.params)) {
      if (NOT_CARRIED.has(name) || value === undefined || value === null) continue;
      for (const one of Array.isArray(value) ? value : [value]) query.append(name, String(one));
    }
    query.set('prompt', 'login');
    return reply.redirect(`${ROUTES.authorization}?${query.toString()}`, 303);
  });

  app.post('/interaction/:uid/abort', html, async (request, reply) => {
    await load(deps, request, reply);
    return finish(deps, request, reply, { error: 'access_denied', error_description: 'The user cancelled the request.' });
  });
}

function load(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply): Promise<{ details: InteractionDetails; uid: string }> {
  return loadInteraction(deps.provider, request, reply);
}

/** Adds what the consent prompt found missing to the user's grant for this client; returns the grant id. */
async function grantMissing(deps: InteractionDeps, details: InteractionDetails): Promise<string> {
  const provider = deps.provider();
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return grant.save();
}

function finish(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>) {
  return finishInteraction(deps.provider, request, reply, result);
}

async function renderConsent(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply, details: InteractionDetails, uid: string) {
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
  // The client's logo, privacy policy and terms (logo_uri, policy_uri, tos_uri); the logo's origin joins img-src.
  const md = (await deps.clients.find(String(details.params.client_id)))?.metadata ?? {};
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const links = { logoUri: text(md.logo_uri), policyUri: text(md.policy_uri), tosUri: text(md.tos_uri) };
  const logoOrigin = originOf(links.logoUri);
  return interactionPageHeaders(reply, details, { images: logoOrigin ? [logoOrigin] : [] }).send(consentPage(interactionPageContext(request, details), {
    links,
    action: `/interaction/${uid}/confirm`,
    abortAction: `/interaction/${uid}/abort`,
    clientName: await clientName(deps.clients, String(details.params.client_id)),
    account: await signedInAs(deps, details),
    switchAction: `/interaction/${uid}/switch`,
    scopes: missing.missingOIDCScope ?? [],
    resources: Object.entries(missing.missingResourceScopes ?? {}).map(([identifier, scopes]) => ({ identifier, scopes })),
  }));
}

/** The signed-in account as its owner knows it (username, else email), for "Signed in as …". */
async function signedInAs(deps: InteractionDeps, details: InteractionDetails): Promise<string | undefined> {
  const accountId = details.session?.accountId;
  if (!accountId) return undefined;
  const user = await deps.users.findById(accountId);
  return user ? (user.username ?? user.email ?? undefined) : undefined;
}
