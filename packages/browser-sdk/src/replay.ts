/**
 * A request that needed a new sign-in (or a step-up), kept in the tab's
 * `sessionStorage` across the redirect through the platform, and sent once
 * when the page comes back. Only bodies that survive serialisation (text,
 * form parameters, JSON) are kept; the CSRF header is not (the session after
 * sign-in has a new one).
 */
export interface PendingRequest {
  /** Names the request, so the micro-frontend that made it can pick up the answer (`takeReplayed(key)`). */
  key: string;
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body: string | null;
  /** Epoch ms; a pending request older than `PENDING_TTL_MS` is dropped. */
  savedAt: number;
}

export const PENDING_STORAGE_KEY = 'tessera:pending-request';
/** Long enough for a sign-in with a second factor, short enough that a stale click does not fire tomorrow. */
export const PENDING_TTL_MS = 10 * 60_000;
const MAX_BODY = 64 * 1024;

export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** The body as text, or `undefined` when it cannot be kept (a stream, a file, a very large body). */
export function serialisableBody(body: BodyInit | null | undefined): string | null | undefined {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body.length <= MAX_BODY ? body : undefined;
  if (body instanceof URLSearchParams) return body.toString();
  return undefined;
}

export function savePending(storage: KeyValueStorage, pending: PendingRequest): void {
  try {
    storage.setItem(PENDING_STORAGE_KEY, JSON.stringify(pending));
  } catch {
    // Storage full or disabled (private mode): the request is simply not replayed.
  }
}

/** Reads and removes the pending request: it is replayed at most once. */
export function takePending(storage: KeyValueStorage, now: number): PendingRequest | undefined {
  let raw: string | null = null;
  try {
    raw = storage.getItem(PENDING_STORAGE_KEY);
    storage.removeItem(PENDING_STORAGE_KEY);
  } catch {
    return undefined;
  }
  if (!raw) return undefined;
  try {
    const p = JSON.parse(raw) as PendingRequest;
    const valid = typeof p.key === 'string' && typeof p.url === 'string' && typeof p.method === 'string'
      && Array.isArray(p.headers) && (p.body === null || typeof p.body === 'string') && typeof p.savedAt === 'number';
    return valid && now - p.savedAt <= PENDING_TTL_MS && p.savedAt <= now ? p : undefined;
  } catch {
    return undefined;
  }
}
