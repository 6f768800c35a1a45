import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientRepository } from '../oidc/repository.js';
import { renderSlots } from '../web/slots.js';
import { interactionPageContext, interactionPageHeaders } from './details.js';
import type { SignInContext } from './flow.js';
import type { MethodSlot, SignInMethods } from './methods.js';
import { loginPage } from './views.js';

export interface SignInPageDeps {
  clients: Pick<ClientRepository, 'find'>;
  methods: SignInMethods;
  /** Links under the sign-in form (registration, password reset), as the client's tenant allows. */
  loginLinks?: (params: Record<string, unknown>, uid: string) => Promise<{ registerUrl?: string; forgotUrl?: string }>;
}

/** What the sign-in page shows besides the methods: an error (catalogue key) and the username typed before it. */
export interface SignInPageExtra {
  username?: string;
  error?: string;
  /** A notice (catalogue key) above the methods, e.g. "link your account: sign in to it first". */
  notice?: string;
}

/** The display name of the interaction's client. */
export async function clientName(clients: Pick<ClientRepository, 'find'>, clientId: string): Promise<string> {
  const c = await clients.find(clientId);
  return (c?.metadata.client_name as string | undefined) ?? clientId;
}

/**
 * The sign-in page: the first factors offered for this interaction, in the
 * registry's order. The `main` slot (the password form) comes first, the
 * others (passkeys, upstream providers) under it. The page works without
 * JavaScript; a slot that needs a script adds it (and `script-src 'self'`).
 */
export function createSignInPage(deps: SignInPageDeps) {
  return async (request: FastifyRequest, reply: FastifyReply, signIn: SignInContext, extra: SignInPageExtra = {}) => {
    const { details, uid, tenantId } = signIn;
    const ctx = interactionPageContext(request, details);
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined;
    const offer = { kind: 'first' as const, tenantId, params: details.params };
    const methods = (await Promise.all(deps.methods.list('first').map(async (m) => ((await (m.offered?.(offer) ?? true)) ? m : undefined))))
      .filter((m) => m !== undefined);
    const usernameAutocomplete = [...new Set(methods.flatMap((m) => m.usernameAutocomplete ?? []))];
    const view = { kind: 'first' as const, ctx, uid, tenantId, params: details.params, username: extra.username ?? hint, error: extra.error, usernameAutocomplete };
    if (!extra.error && !extra.notice) {
      for (const m of methods) {
        const to = await m.redirect?.(view);
        if (to) return reply.redirect(to, 303);
      }
    }
    const slots: MethodSlot[] = (await Promise.all(methods.map((m) => m.slot?.(view)))).filter((s) => s !== undefined);
    const main = slots.filter((s) => s.region === 'main');
    const others = renderSlots(slots.filter((s) => s.region !== 'main'));
    const scripts = others.scripts || main.some((s) => s.scripts?.length);
    const links = deps.loginLinks ? await deps.loginLinks(details.params, uid) : {};
    const password = methods.some((m) => m.id === 'password');
    const formTargets = [...new Set(slots.flatMap((s) => s.formTargets ?? []))];
    return interactionPageHeaders(reply, details, { scripts, formTargets }).send(loginPage(ctx, {
      main: main.map((s) => s.html).join('\n'),
      slots: others.html,
      abortAction: `/interaction/${uid}/abort`,
      clientName: await clientName(deps.clients, String(details.params.client_id)),
      error: extra.error ? ctx.t(extra.error) : undefined,
      notice: extra.notice ? ctx.t(extra.notice) : undefined,
      // Password reset and registration belong with the password form.
      ...(password ? links : {}),
    }));
  };
}
