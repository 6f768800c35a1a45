/** Field names whose values are credentials: never written to a log line, wherever a caller put them. */
const SECRET_FIELDS = new Set(['password', 'client_secret', 'token']);

/** `req` and `res` go through the logger's own serializers, which keep a fixed set of fields (http/server.ts). */
const SERIALIZED = new Set(['req', 'res']);

/**
 * pino `formatters.log` (inherited by child loggers): removes fields named
 * `password`, `client_secret` or `token` from the logged object and from the
 * objects one level inside it (what pino's `redact` did with the wildcard paths
 * `*.password`…, `remove: true`; a top-level field is removed too).
 *
 * Why not pino's `redact`: with wildcard paths it clones and re-serializes
 * every object-valued field of every line through a redaction pass, the
 * per-request `request completed` line included (issue 20: most of that
 * line's cost). Here a line is only scanned, and copied only when it holds
 * such a field; the request line's `req`/`res` are skipped because their
 * serializers build them from a fixed list of safe fields (no headers,
 * bodies or query strings). A child logger's bindings are not lines and are
 * not scanned: the only child is Fastify's per-request one (`requestId`).
 */
export function withoutSecretFields(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    if (SECRET_FIELDS.has(key)) {
      out ??= { ...obj };
      delete out[key];
      continue;
    }
    if (SERIALIZED.has(key)) continue;
    const value = obj[key];
    if (value === null || typeof value !== 'object' || !holdsSecretField(value)) continue;
    out ??= { ...obj };
    out[key] = stripped(value);
  }
  return out ?? obj;
}

function holdsSecretField(value: object): boolean {
  for (const key in value) if (SECRET_FIELDS.has(key)) return true;
  return false;
}

/** A copy without the secret fields; an Error stays an Error (type, message, stack and cause for pino's err serializer). */
function stripped(value: object): unknown {
  const copy = value instanceof Error
    ? Object.create(Object.getPrototypeOf(value) as object, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>
    : { ...(value as Record<string, unknown>) };
  for (const key of SECRET_FIELDS) delete copy[key];
  return copy;
}
