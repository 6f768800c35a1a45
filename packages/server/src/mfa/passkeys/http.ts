import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.js';
import type { User } from '../../identity/model.js';
import type { DomainEventType } from '../../audit/events.js';
import { AppError } from '../../http/errors.js';
import { sendPage } from '../../web/layout.js';
import type { PageContext } from '../../web/layout.js';
import { eventContext } from '../../account/http.js';
import { PasskeyError, toAppError } from './errors.js';
import { passkeyErrorPage } from './views.js';

/** Audit and refusal helpers shared by the account and sign-in passkey routes. */
export function passkeyHttp(p: Pick<Platform, 'events' | 'log'>) {
  const emit = async (type: DomainEventType, request: FastifyRequest, user: Pick<User, 'id' | 'tenantId'> | null, data: Record<string, unknown>, tenantId?: string) => {
    await p.events.emit({ type, tenantId: user?.tenantId ?? tenantId ?? null, subjectId: user?.id ?? null, context: eventContext(request, user?.id ?? null), data },
      (err) => p.log.error({ err }, 'event listener failed'));
  };

  /** A refused form POST: a 4xx page with the message and code, logged and audited; nothing was stored. */
  const refuse = async (request: FastifyRequest, reply: FastifyReply, ctx: PageContext, err: unknown, back: string, audit: { stage: string; user?: User | null; tenantId?: string }) => {
    if (!(err instanceof PasskeyError)) throw err;
    request.log.info({ event: 'passkey.refused', code: err.code, detail: err.detail, stage: audit.stage }, 'passkey refused');
    await emit('mfa.challenge_failed', request, audit.user ?? null, { kind: 'passkey', stage: audit.stage, reason: err.code }, audit.tenantId);
    const e = toAppError(err, ctx.t);
    return sendPage(reply.code(e.status), passkeyErrorPage(ctx, e.code, e.publicMessage, back));
  };
  return { emit, refuse };
}

/**
 * The credential field of a form: the JSON the browser produced.
 * @throws PasskeyError invalid_request when it is missing or not JSON
 */
export function parseCredential(value: unknown): unknown {
  if (typeof value !== 'string' || value.length > 48 * 1024) throw new PasskeyError('invalid_request', 'credential field missing or too large');
  try {
    return JSON.parse(value);
  } catch {
    throw new PasskeyError('invalid_request', 'credential field is not JSON');
  }
}

/**
 * The JSON endpoints are fetched by our own pages only. Same rule as the
 * form POSTs (http/server.ts, http/origin.ts): an Origin other than the
 * issuer's (or TESSERA_FORM_ORIGINS), or a cross-site Sec-Fetch-Site, is refused.
 * @throws AppError 403 access_denied
 */
export function requireSameOrigin(request: FastifyRequest): void {
  if (!request.server.tesseraSites.fromOurSite(request)) throw new AppError('access_denied', 403, 'This request came from another site.');
}
