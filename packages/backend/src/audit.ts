import type { Caller } from './caller.js';

/**
 * Audit lines for sensitive operations: one structured record with who
 * acted (and as what), on whose behalf, in which tenant, how they signed in,
 * which request it was, what happened and why it was allowed. The service
 * never sees the access token, so none can end up in an audit line.
 */
export interface AuditEntry {
  /** `true`, so a log pipeline can route audit lines apart from the rest. */
  audit: true;
  event: string;
  /** RFC 3339. */
  at: string;
  actor: string;
  actor_type: 'user' | 'client';
  client: string;
  tenant: string;
  acr: string | null;
  request_id: string | null;
  outcome: 'success' | 'denied' | 'failure';
  /** Present on delegated calls only: the service that acted for `actor` (token exchange, RFC 8693 `act`). */
  act?: string;
  [field: string]: unknown;
}

/** Where audit lines go: a function, or a logger with `info(obj, msg)` (pino, bunyan, console-like). */
export type AuditSink = ((entry: AuditEntry) => void) | { info(obj: object, msg?: string): void };

/** Field names that would overwrite the entry's own (who, when, outcome) are refused rather than silently dropped. */
const RESERVED = new Set(['audit', 'event', 'at', 'actor', 'actor_type', 'client', 'tenant', 'acr', 'request_id', 'outcome', 'act']);

export interface Auditor {
  /**
   * Writes one audit line and returns it.
   * @throws TypeError when `fields` uses a reserved name (a programming error: it would hide who acted).
   */
  (caller: Caller, event: string, fields?: Record<string, unknown>, outcome?: AuditEntry['outcome']): AuditEntry;
}

export function createAuditor(sink: AuditSink, opts: { now?: () => number } = {}): Auditor {
  const write = typeof sink === 'function' ? sink : (entry: AuditEntry) => sink.info(entry, 'audit');
  return (caller, event, fields = {}, outcome = 'success') => {
    for (const key of Object.keys(fields)) if (RESERVED.has(key)) throw new TypeError(`audit field "${key}" is reserved`);
    const entry: AuditEntry = {
      audit: true, event, at: new Date(opts.now?.() ?? Date.now()).toISOString(),
      actor: caller.sub, actor_type: caller.kind, client: caller.clientId, tenant: caller.tenant,
      acr: caller.acr ?? null, request_id: caller.requestId ?? null, outcome,
      // Only on delegated calls, so that existing log queries see the same entries as before.
      ...(caller.actor === undefined ? {} : { act: caller.actor }), ...fields,
    };
    write(entry);
    return entry;
  };
}
