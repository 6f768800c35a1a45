import type { FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { errors as engineErrors } from 'oidc-provider';
import { AppError } from '../http/errors.js';
import { originOf, pageCsp } from '../http/security.js';
import { pageContext } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { uidParams } from './schemas.js';

/** The engine's interaction, as the hosted pages see it. */
export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * The interaction as loaded during one request (by its raw request): a
 * sign-in POST loads it in the method's route and again in the pipeline that
 * completes it, one statement each (issue 20). Nothing changes it in between;
 * `finishInteraction` forgets it, since handing the result to the engine does.
 */
const loadedInRequest = new WeakMap<object, Promise<InteractionDetails>>();

/**
 * The engine's interaction for this request (its cookie checked, its row
 * read), loaded once however many parts of the request ask: the brand hook
 * (branding/hook.ts) on a page's first request, `loadInteraction`, and
 * `finishInteraction`, which saves the result on it.
 */
export function interactionInRequest(provider: () => Provider, request: FastifyRequest, reply: FastifyReply): Promise<InteractionDetails> {
  let loading = loadedInRequest.get(request.raw);
  if (!loading) loadedInRequest.set(request.raw, (loading = provider().interactionDetails(request.raw, reply.raw)));
  return loading;
}

/**
 * Loads the engine interaction behind `/interaction/:uid/...`. The engine
 * checks its interaction cookie (SameSite, signed), so only the browser that
 * started the sign-in gets here; the uid in the path must match it.
 * @throws AppError 400 `session_expired` when the interaction is missing, expired or another browser's.
 */
export async function loadInteraction(provider: () => Provider, request: FastifyRequest, reply: FastifyReply): Promise<{ details: InteractionDetails; uid: string }> {
  const params = uidParams.safeParse(request.params);
  if (!params.success) throw new AppError('session_expired', 400, 'This sign-in link is not valid. Go back to the application and start again.');
  try {
    const details = await interactionInRequest(provider, request, reply);
    if (details.uid !== params.data.uid) throw new engineErrors.SessionNotFound('interaction mismatch');
    return { details, uid: details.uid };
  } catch (err) {
    if (err instanceof engineErrors.SessionNotFound || err instanceof engineErrors.InvalidRequest) {
      throw new AppError('session_expired', 400, 'This sign-in session has expired or was opened in another browser. Go back to the application and start again.');
    }
    throw err;
  }
}

/**
 * Hands the result to the engine and sends the browser back to it (303: the
 * next request is a GET). When this request loaded the interaction
 * (`loadInteraction`: the engine's cookie, its row, its session checked), the
 * result is saved on that object, as the engine's `interactionResult` would
 * after loading it again (`mergeWithLastSubmission: false` replaces the
 * result; the same expiry and return address): one statement fewer per
 * sign-in step (issue 20). Otherwise the engine loads it.
 */
export async function finishInteraction(provider: () => Provider, request: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>): Promise<FastifyReply> {
  const loading = loadedInRequest.get(request.raw);
  loadedInRequest.delete(request.raw);
  const loaded = loading && await loading.catch(() => undefined);
  if (!loaded) return reply.redirect(await provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false }), 303);
  loaded.result = result;
  await loaded.save(loaded.exp - Math.floor(Date.now() / 1000));
  return reply.redirect(loaded.returnTo, 303);
}

/**
 * HTML headers for an interaction page: the strict CSP, whose `form-action`
 * also allows the client's redirect URI (browsers apply it to the redirects
 * after a form), plus `script-src 'self'` when the page loads a script.
 */
export function interactionPageHeaders(reply: FastifyReply, details: InteractionDetails, opts: { scripts?: boolean; images?: string[]; formTargets?: string[] } = {}): FastifyReply {
  const target = originOf(details.params.redirect_uri as string | undefined);
  return reply.type('text/html; charset=utf-8').header('content-security-policy', pageCsp([...(target ? [target] : []), ...(opts.formTargets ?? [])], opts))
    .header('cache-control', 'no-store');
}

/** The page language: the request's `ui_locales`, then Accept-Language. */
export function interactionPageContext(request: FastifyRequest, details: InteractionDetails): PageContext {
  return pageContext(request, typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined);
}
