import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientRepository } from '../oidc/repository.js';
import type { MfaFactors } from '../mfa/factors.js';
import { renderSlots } from '../web/slots.js';
import { interactionPageContext, interactionPageHeaders } from './details.js';
import type { SignInContext } from './flow.js';
import { loginPage } from './views.js';

export interface SignInPageDeps {
  clients: Pick<ClientRepository, 'find'>;
  /** Links under the sign-in form (registration, password reset), as the client's tenant allows. */
  loginLinks?: (params: Record<string, unknown>, uid: string) => Promise<{ registerUrl?: string; forgotUrl?: string }>;
  /** The factor registry: factors that can sign in on their own add to the sign-in page (passkeys). */
  factors?: Pick<MfaFactors, 'kinds' | 'provider'>;
}

/** The display name of the interaction's client. */
export async function clientName(clients: Pick<ClientRepository, 'find'>, clientId: string): Promise<string> {
  const c = await clients.find(clientId);
  return (c?.metadata.client_name as string | undefined) ?? clientId;
}

/** The sign-in page: the first factors offered for this interaction, with an optional error (catalogue key). */
export function createSignInPage(deps: SignInPageDeps) {
  return async (request: FastifyRequest, reply: FastifyReply, signIn: SignInContext, extra: { username?: string; error?: string } = {}) => {
    const { details, uid } = signIn;
    const ctx = interactionPageContext(request, details);
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined;
    const factors = deps.factors;
    const slots = renderSlots(factors ? await Promise.all(factors.kinds().map((k) => factors.provider(k)?.signInSlot?.({ ctx, uid }))) : []);
    return interactionPageHeaders(reply, details, { scripts: slots.scripts }).send(loginPage(ctx, {
      slots: slots.html,
      action: `/interaction/${uid}/login`,
      abortAction: `/interaction/${uid}/abort`,
      clientName: await clientName(deps.clients, String(details.params.client_id)),
      username: extra.username ?? hint,
      error: extra.error ? ctx.t(extra.error) : undefined,
      ...(deps.loginLinks ? await deps.loginLinks(details.params, uid) : {}),
    }));
  };
}
