import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AppError } from '../http/errors.js';
import type { ErrorCode } from '../http/errors.js';
import type { Metrics } from '../http/metrics.js';
import type { EventBus } from '../audit/events.js';

/** Statuses of federated sign-in failures: refusals 400/403, the upstream's failures 502/504. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  unknown_identity_provider: 400, identity_provider_disabled: 403, federation_state_invalid: 400, upstream_error: 502,
  upstream_unavailable: 502, upstream_timeout: 504, upstream_invalid_response: 502, upstream_invalid_token: 502, upstream_client_auth_failed: 502,
  no_account: 403, email_not_verified: 403, link_refused: 403, approval_pending: 403, profile_incomplete: 403,
};
const MESSAGE: Partial<Record<ErrorCode, string>> = {
  unknown_identity_provider: 'This way of signing in is not available here.',
  identity_provider_disabled: 'This way of signing in is switched off.',
  federation_state_invalid: 'This sign-in could not be continued: it is expired, already used, or was started in another browser.',
  upstream_error: 'The identity provider could not sign you in.',
  upstream_unavailable: 'The identity provider cannot be reached right now.',
  upstream_timeout: 'The identity provider did not answer in time.',
  upstream_invalid_response: 'The identity provider\'s answer could not be accepted.',
  upstream_invalid_token: 'The identity provider\'s answer could not be verified.',
  upstream_client_auth_failed: 'The identity provider did not accept Tessera\'s client authentication.',
  no_account: 'There is no account for this sign-in here.',
  email_not_verified: 'The identity provider\'s email address is not verified, and an account here uses it.',
  link_refused: 'An account here already uses this email address; it cannot be linked to this sign-in.',
  approval_pending: 'An administrator must approve this sign-in first.',
  profile_incomplete: 'The identity provider did not release what an account here needs (a name).',
};

export interface FailureDeps {
  events: EventBus;
  metrics: Metrics;
  log: Logger;
}

export interface FailureContext {
  provider?: string;
  tenantId?: string | null;
  detail?: string;
}

/**
 * A failed federated sign-in: counted per provider and reason at /metrics,
 * audited as `federation.login.failed` with the reason, then answered with
 * the reason's error page (no session, no user).
 * @throws AppError always
 */
export async function federationFailure(deps: FailureDeps, request: FastifyRequest, code: ErrorCode, ctx: FailureContext): Promise<never> {
  deps.metrics.federationLogins.inc({ provider: ctx.provider ?? 'unknown', outcome: code });
  request.log.info({ event: 'federation.login.failed', provider: ctx.provider, reason: code, detail: ctx.detail }, 'federated sign-in failed');
  await deps.events.emit({
    type: 'federation.login.failed', tenantId: ctx.tenantId ?? null, subjectId: null,
    context: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null },
    data: { provider: ctx.provider ?? null, reason: code, ...(ctx.detail ? { detail: ctx.detail.slice(0, 300) } : {}) },
  }, (err) => deps.log.error({ err }, 'event listener failed'));
  throw new AppError(code, STATUS[code] ?? 400, MESSAGE[code] ?? 'The sign-in failed.');
}
