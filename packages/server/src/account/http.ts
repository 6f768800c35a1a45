import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventContext } from '../audit/events.js';
import { issueCsrf } from '../http/csrf.js';
import { pageContext, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { AccountSessions, CurrentAccount } from './session.js';
import { accountLayout } from './views.js';
import { useTenantBrand } from '../branding/hook.js';

/** What the account page routes share. */
export interface AccountPageDeps {
  sessions: AccountSessions;
  /** Cookies get `Secure` when the issuer is https. */
  secure: boolean;
}

export interface SignedInPage {
  account: CurrentAccount;
  ctx: PageContext;
  csrf: string;
}

/**
 * The signed-in account (or a redirect to sign in), the page language (the
 * user's chosen locale, then Accept-Language) and the form token.
 */
export async function signedIn(request: FastifyRequest, reply: FastifyReply, deps: AccountPageDeps): Promise<SignedInPage | undefined> {
  const account = await deps.sessions.require(request, reply);
  if (!account) return undefined;
  // The account pages look like the signed-in user's tenant.
  await useTenantBrand(request, account.user.tenantId);
  return { account, ctx: pageContext(request, account.user.locale), csrf: issueCsrf(request, reply, deps.secure) };
}

/** Renders one page of the account area, with its tabs. */
export function sendAccountPage(reply: FastifyReply, deps: AccountPageDeps, page: SignedInPage, path: string, title: string, body: string, status = 200): FastifyReply {
  return sendPage(reply.code(status), accountLayout(page.ctx, path, title, body, deps.sessions.logoutUrl(), page.account.user));
}

/** Who acted and from where, for domain events. */
export function eventContext(request: FastifyRequest, actorId: string | null): EventContext {
  const ua = request.headers['user-agent'];
  return { actorId, ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
