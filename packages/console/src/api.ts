import { accessToken, loadConfig, signIn } from './auth';
import { currentLocation } from './router';

/**
 * The admin API client (docs/admin.md). Adds the bearer token, maps error
 * bodies to ApiError, and handles the two 401s a person meets:
 *
 * - `invalid_token` (expired): renew once (refresh token) and retry, else
 *   sign in again and come back here.
 * - `insufficient_user_authentication` (RFC 9470 step-up): remember the
 *   operation in sessionStorage, send the browser through sign-in with the
 *   challenge's `acr_values` and `max_age`, and after the callback replay
 *   the operation once with the new token (`replayPending`); the view that
 *   started it reads the outcome with `takeReplayed(replayKey)`.
 */

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export class ApiError extends Error {
  status: number;
  code: string;
  description?: string;
  /** Field path → stable code (`required`, `taken`, `invalid_email`…), from validation and conflict answers. */
  fields?: Record<string, string>;

  constructor(status: number, code: string, description?: string, fields?: Record<string, string>) {
    super(description ? `${code}: ${description}` : code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    if (description !== undefined) this.description = description;
    if (fields !== undefined) this.fields = fields;
  }
}

export interface ApiResult<T> {
  data: T;
  etag?: string;
  status: number;
}

export interface ApiOptions {
  body?: unknown;
  ifMatch?: string;
  replayKey?: string;
}

/** An operation waiting for a step-up sign-in to finish (sessionStorage: survives the redirects, ends with the tab). */
interface PendingOperation {
  method: Method;
  path: string;
  body?: unknown;
  ifMatch?: string;
  replayKey?: string;
  returnTo: string;
  acrValues: string;
  maxAge?: number;
  at: number;
}

const PENDING_KEY = 'tessera.console.pending';
/** When the last step-up sign-in completed: a new challenge right after it is shown, not redirected again (no loops). */
const STEPPED_UP_KEY = 'tessera.console.stepped-up-at';
const LOOP_WINDOW_MS = 60_000;
/** A pending operation older than this is dropped, not replayed (the person gave up and came back later). */
const PENDING_MAX_AGE_MS = 30 * 60_000;

/** Outcomes of replayed operations, by replayKey, read once by the view that owns them (kept in memory only: may hold a secret). */
const replayed = new Map<string, ApiResult<unknown> | ApiError>();

/** Set once the page is on its way to the sign-in: later calls wait with it instead of starting a second redirect. */
let leaving = false;

const never = <T>() => new Promise<T>(() => {});

/**
 * Calls the admin API. `path` is relative to the API base: '/users?limit=50'.
 * @throws ApiError for every non-2xx answer except the 401s handled above;
 * never settles when the browser is sent to sign in.
 */
export async function api<T>(method: Method, path: string, opts: ApiOptions = {}): Promise<ApiResult<T>> {
  return call<T>(method, path, opts, false);
}

async function call<T>(method: Method, path: string, opts: ApiOptions, isReplay: boolean): Promise<ApiResult<T>> {
  if (leaving) return never();
  let token = await accessToken();
  if (!token) return reSignIn();
  let res = await send(method, path, opts, token);
  if (res.status === 401) {
    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    if (challenge.error === 'invalid_token' || (!challenge.error && challenge.scheme === 'bearer')) {
      // Expired (or revoked): one renewal, then one retry.
      token = await accessToken({ forceRenew: true });
      if (!token) return reSignIn();
      res = await send(method, path, opts, token);
      if (res.status === 401 && parseChallenge(res.headers.get('www-authenticate')).error === 'invalid_token') return reSignIn();
    }
  }
  if (res.status === 401) {
    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    if (challenge.error === 'insufficient_user_authentication') {
      const error = await toError(res);
      // Loop guard: a replay, or any call right after a completed step-up, that is still refused is shown, not redirected again.
      if (isReplay || recentlySteppedUp()) throw error;
      return stepUp(method, path, opts, challenge);
    }
  }
  if (!res.ok) throw await toError(res);
  const etag = res.headers.get('etag') ?? undefined;
  const text = res.status === 204 ? '' : await res.text();
  const data = (text ? JSON.parse(text) : undefined) as T;
  return { data, status: res.status, ...(etag ? { etag } : {}) };
}

async function send(method: Method, path: string, opts: ApiOptions, token: string): Promise<Response> {
  const config = await loadConfig();
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
  return fetch(config.api_base + path, {
    method,
    headers,
    cache: 'no-store',
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
}

async function toError(res: Response): Promise<ApiError> {
  let body: { error?: unknown; error_description?: unknown; fields?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const code = typeof body.error === 'string' ? body.error : `http_${res.status}`;
  const description = typeof body.error_description === 'string' ? body.error_description : res.statusText || undefined;
  const fields = body.fields && typeof body.fields === 'object' ? (body.fields as Record<string, string>) : undefined;
  return new ApiError(res.status, code, description, fields);
}

function reSignIn(): Promise<never> {
  if (leaving) return never();
  leaving = true;
  return signIn({ returnTo: currentLocation() });
}

async function stepUp(method: Method, path: string, opts: ApiOptions, challenge: Challenge): Promise<never> {
  if (leaving) return never();
  leaving = true;
  const config = await loadConfig();
  const acrValues = challenge.params.acr_values || config.acr_mfa;
  const maxAgeRaw = challenge.params.max_age ?? String(config.step_up_max_age);
  const maxAge = /^\d+$/.test(maxAgeRaw) ? Number(maxAgeRaw) : undefined;
  const pending: PendingOperation = {
    method, path, returnTo: currentLocation(), acrValues, at: Date.now(),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.ifMatch ? { ifMatch: opts.ifMatch } : {}),
    ...(opts.replayKey ? { replayKey: opts.replayKey } : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  return signIn({ returnTo: pending.returnTo, acrValues, ...(maxAge !== undefined ? { maxAge } : {}) });
}

function recentlySteppedUp(): boolean {
  const at = Number(sessionStorage.getItem(STEPPED_UP_KEY) ?? 0);
  return Date.now() - at < LOOP_WINDOW_MS;
}

/** What the shell shows about a replay that no view claimed (an operation without replayKey). */
export interface ReplayReport {
  method: Method;
  path: string;
  replayKey?: string;
  outcome: ApiResult<unknown> | ApiError;
}

/**
 * After a step-up sign-in: replays the stored operation once with the new
 * token (the callback route calls this), and records the outcome for
 * `takeReplayed`. Also starts the loop guard's window: a call refused for
 * step-up right after one is shown, not redirected again. Returns the report and the route to go back to, or
 * undefined when nothing was pending.
 */
export async function replayPending(steppedUp: boolean): Promise<{ report: ReplayReport; returnTo: string } | undefined> {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  // Only a step-up sign-in replays (an ordinary one, e.g. after the tokens expired, drops a leftover operation).
  if (!steppedUp) return undefined;
  sessionStorage.setItem(STEPPED_UP_KEY, String(Date.now()));
  if (!raw) return undefined;
  let op: PendingOperation;
  try {
    op = JSON.parse(raw) as PendingOperation;
  } catch {
    return undefined;
  }
  if (Date.now() - op.at > PENDING_MAX_AGE_MS) return undefined;
  let outcome: ApiResult<unknown> | ApiError;
  try {
    outcome = await call<unknown>(op.method, op.path, {
      ...(op.body !== undefined ? { body: op.body } : {}),
      ...(op.ifMatch ? { ifMatch: op.ifMatch } : {}),
    }, true);
  } catch (err) {
    outcome = err instanceof ApiError ? err : new ApiError(0, 'network_error', err instanceof Error ? err.message : String(err));
  }
  if (op.replayKey) replayed.set(op.replayKey, outcome);
  return { report: { method: op.method, path: op.path, ...(op.replayKey ? { replayKey: op.replayKey } : {}), outcome }, returnTo: op.returnTo };
}

/**
 * A step-up sign-in that did not complete (cancelled on the MFA page, or
 * refused): forgets the waiting operation and returns the route it was
 * started from, so the person gets back to where they were.
 */
export function abandonPending(): { returnTo: string; method: Method; path: string } | undefined {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (!raw) return undefined;
  try {
    const op = JSON.parse(raw) as PendingOperation;
    return { returnTo: op.returnTo, method: op.method, path: op.path };
  } catch {
    return undefined;
  }
}

/** The outcome of a replayed operation, once (the second call returns undefined). */
export function takeReplayed<T>(replayKey: string): ApiResult<T> | ApiError | undefined {
  const outcome = replayed.get(replayKey);
  replayed.delete(replayKey);
  return outcome as ApiResult<T> | ApiError | undefined;
}

/** Whether an outcome is waiting for this key (without taking it). */
export function hasReplayed(replayKey: string): boolean {
  return replayed.has(replayKey);
}

/** A parsed `WWW-Authenticate` challenge (RFC 9110 §11.6.1): scheme and auth-params, quoted strings unescaped. */
export interface Challenge {
  scheme: string;
  error?: string;
  params: Record<string, string>;
}

/**
 * Parses the first challenge of a `WWW-Authenticate` value, tolerating
 * folded whitespace, unquoted tokens (`max_age=600`), escaped quotes and
 * commas inside quoted strings.
 */
export function parseChallenge(header: string | null | undefined): Challenge {
  const out: Challenge = { scheme: '', params: {} };
  if (!header) return out;
  const s = header.trim();
  const m = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*/.exec(s);
  if (!m) return out;
  out.scheme = m[1]!.toLowerCase();
  let i = m[0].length;
  while (i < s.length) {
    while (i < s.length && (s[i] === ',' || /\s/.test(s[i]!))) i++;
    const nm = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(s.slice(i));
    if (!nm) break;
    const name = nm[1]!.toLowerCase();
    i += nm[0].length;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
        i++;
      }
      i++; // closing quote
    } else {
      const tm = /^[^\s,]*/.exec(s.slice(i))!;
      value = tm[0];
      i += value.length;
    }
    // A second challenge starts with a scheme token followed by a space, not '=': stop at the first one's end.
    if (!(name in out.params)) out.params[name] = value;
  }
  if (out.params.error) out.error = out.params.error;
  return out;
}

/** Builds a query string from defined, non-empty values: `qs({ a: 'x', b: undefined })` → '?a=x'. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') sp.set(k, String(v));
  const s = sp.toString();
  return s ? `?${s}` : '';
}
