/** Where the session stands, as every micro-frontend in the page sees it. */
export type SessionStatus = 'loading' | 'authenticated' | 'unauthenticated' | 'error';

/**
 * The signed-in user as the BFF describes it (`GET /bff/user`), read-only.
 * Never holds a token: the BFF keeps them server-side.
 */
export interface SessionState {
  readonly status: SessionStatus;
  /** The user's id at Tessera (`sub`). */
  readonly sub: string | null;
  readonly tenant: string | null;
  readonly roles: readonly string[];
  /** The scopes the BFF's access token carries (what the app may do at its API). */
  readonly scopes: readonly string[];
  /** Authentication context class of the sign-in (`urn:tessera:acr:pwd` or `urn:tessera:acr:mfa`). */
  readonly acr: string | null;
  /** Methods used to sign in (RFC 8176: `pwd`, `otp`, `hwk`, `mfa`…). */
  readonly amr: readonly string[];
  /** When the user last authenticated (epoch seconds). */
  readonly authTime: number | null;
  /** Whether the user has a second factor, and whether policy requires one for this app; `null`: unknown. */
  readonly mfa: { readonly enrolled: boolean | null; readonly required: boolean | null };
  /** The identity claims the BFF exposes (name, email…). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** When the BFF session ends at the latest (ISO 8601). */
  readonly sessionExpiresAt: string | null;
  /** Why `status` is `error` (the BFF unreachable, an unexpected answer). */
  readonly error: string | null;
}

/** What `GET /bff/user` answers when signed in. */
export interface BffUser {
  sub: string;
  claims?: Record<string, unknown>;
  scopes?: string[];
  mfa?: { enrolled?: boolean | null; required?: boolean | null };
  csrf_token?: string;
  session_expires_at?: string;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);

/** A frozen state, so no micro-frontend can change what the others see. */
export function freezeState(s: SessionState): SessionState {
  return Object.freeze({
    ...s,
    roles: Object.freeze([...s.roles]),
    scopes: Object.freeze([...s.scopes]),
    amr: Object.freeze([...s.amr]),
    mfa: Object.freeze({ ...s.mfa }),
    claims: Object.freeze({ ...s.claims }),
  });
}

export function emptyState(status: SessionStatus, error: string | null = null): SessionState {
  return freezeState({
    status, sub: null, tenant: null, roles: [], scopes: [], acr: null, amr: [], authTime: null,
    mfa: { enrolled: null, required: null }, claims: {}, sessionExpiresAt: null, error,
  });
}

/** The state of a signed-in user from the BFF's answer. */
export function stateFromUser(user: BffUser): SessionState {
  const claims = user.claims ?? {};
  return freezeState({
    status: 'authenticated',
    sub: user.sub,
    tenant: str(claims.tenant),
    roles: strings(claims.roles),
    scopes: strings(user.scopes),
    acr: str(claims.acr),
    amr: strings(claims.amr),
    authTime: typeof claims.auth_time === 'number' ? claims.auth_time : null,
    mfa: { enrolled: bool(user.mfa?.enrolled), required: bool(user.mfa?.required) },
    claims,
    sessionExpiresAt: str(user.session_expires_at),
    error: null,
  });
}

/** Two states the subscribers would render the same way. */
export function sameState(a: SessionState, b: SessionState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
