import { readChallenge } from './challenge.js';
import { savePending, serialisableBody, takePending } from './replay.js';
import type { KeyValueStorage } from './replay.js';
import { emptyState, sameState, stateFromUser } from './state.js';
import type { BffUser, SessionState } from './state.js';

/** Parameters of a sign-in; `returnTo` defaults to the current path, query and hash. */
export interface LoginOptions {
  /** A path on this origin to land on afterwards, e.g. `/#/orders/7?tab=history`. */
  returnTo?: string;
  /** Step-up: the authentication level to reach (e.g. `urn:tessera:acr:mfa`). */
  acrValues?: string;
  /** Step-up: the sign-in must be at most this many seconds old (0: sign in again). */
  maxAge?: number;
  prompt?: string;
  loginHint?: string;
  uiLocales?: string;
}

export interface TesseraFetchInit extends RequestInit {
  /**
   * Names this request for the replay after a sign-in or step-up: the page
   * that comes back gets the answer from `takeReplayed(key)`.
   */
  replayKey?: string;
  /** `false`: hand a `401` back instead of signing in (used for the one replay). */
  retry?: boolean;
}

export interface TesseraOptions {
  /** The BFF's origin and base path; empty (the default) means this page's origin. */
  bffBase?: string;
  /** The BroadcastChannel that ties the tabs of this app together. */
  channelName?: string;
  fetch?: typeof globalThis.fetch;
  /** Leaves the page (sign-in, sign-out); `location.assign` by default. */
  navigate?: (url: string) => void;
  /** The current path, query and hash; from `location` by default. */
  currentUrl?: () => string;
  /** Where a request waiting for a sign-in is kept (`sessionStorage` by default; `null`: never replay). */
  storage?: KeyValueStorage | null;
  /** `null` disables cross-tab messages. */
  BroadcastChannel?: typeof BroadcastChannel | null;
  now?: () => number;
}

type TabMessage =
  | { type: 'signed-out' }
  | { type: 'hello'; sub: string; acr: string | null; authTime: number | null };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CSRF_HEADER = 'x-bff-csrf';

/** A promise that never settles: the page is navigating away. */
const leaving = <T>(): Promise<T> => new Promise<T>(() => {});

/**
 * The signed-in session of a shell and its micro-frontends, behind the
 * Tessera BFF. One instance per page (`getTessera()`); every micro-frontend
 * reads the same read-only state and hears the same `change` events, and the
 * tabs of the app tell each other about sign-in and sign-out.
 *
 * Events: `change` (`CustomEvent<SessionState>`), `replayed`
 * (`CustomEvent<{ key: string; response: Response }>`).
 */
export class TesseraSession extends EventTarget {
  #state: SessionState = emptyState('loading');
  #csrf: string | null = null;
  #loading: Promise<SessionState> | undefined;
  #initialised: Promise<SessionState> | undefined;
  readonly #replayed = new Map<string, Promise<Response>>();
  readonly #channel: BroadcastChannel | null;
  readonly #base: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #navigate: (url: string) => void;
  readonly #currentUrl: () => string;
  readonly #storage: KeyValueStorage | null;
  readonly #now: () => number;

  constructor(options: TesseraOptions = {}) {
    super();
    this.#base = (options.bffBase ?? '').replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#navigate = options.navigate ?? ((url) => globalThis.location.assign(url));
    this.#currentUrl = options.currentUrl ?? (() => `${globalThis.location.pathname}${globalThis.location.search}${globalThis.location.hash}`);
    this.#storage = options.storage !== undefined ? options.storage : globalThis.sessionStorage ?? null;
    this.#now = options.now ?? Date.now;
    const Channel = options.BroadcastChannel !== undefined ? options.BroadcastChannel : globalThis.BroadcastChannel;
    this.#channel = Channel ? new Channel(options.channelName ?? 'tessera-session') : null;
    this.#channel?.addEventListener('message', (e) => this.#onTabMessage((e as MessageEvent<TabMessage>).data));
  }

  /** The current state (frozen; replaced, never changed, on every change). */
  get state(): SessionState {
    return this.#state;
  }

  /**
   * Loads the session once per page (later calls share the first), then
   * sends the request that was waiting for this sign-in, if any.
   */
  init(): Promise<SessionState> {
    this.#initialised ??= this.refresh().then((state) => {
      this.#replayPending(state);
      if (state.status === 'authenticated') this.#post({ type: 'hello', sub: state.sub!, acr: state.acr, authTime: state.authTime });
      return state;
    });
    return this.#initialised;
  }

  /** Reads the session from the BFF again (after a change elsewhere). Concurrent calls share one request. */
  refresh(): Promise<SessionState> {
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /** Calls `listener` now and on every change; returns the function that stops it. */
  subscribe(listener: (state: SessionState) => void): () => void {
    const handler = (e: Event) => listener((e as CustomEvent<SessionState>).detail);
    this.addEventListener('change', handler);
    listener(this.#state);
    return () => this.removeEventListener('change', handler);
  }

  /**
   * Resolves once a user is signed in: for micro-frontend loaders, so that no
   * protected call is made before. With `signIn: true`, a signed-out page is
   * sent to sign in (and comes back to where it was).
   */
  async whenAuthenticated(options: { signIn?: boolean } = {}): Promise<SessionState> {
    const state = await this.init();
    if (state.status === 'authenticated') return state;
    if (options.signIn) return this.login();
    return new Promise((resolve) => {
      const stop = this.subscribe((s) => {
        if (s.status !== 'authenticated') return;
        queueMicrotask(() => stop());
        resolve(s);
      });
    });
  }

  hasRole(role: string): boolean {
    return this.#state.roles.includes(role);
  }

  hasScope(scope: string): boolean {
    return this.#state.scopes.includes(scope);
  }

  /**
   * Sends the browser to sign in through the BFF, and back to `returnTo`
   * (by default, exactly where it is: path, query and hash). The returned
   * promise does not settle: the page is leaving.
   */
  login(options: LoginOptions = {}): Promise<never> {
    const returnTo = options.returnTo ?? this.#currentUrl();
    if (!returnTo.startsWith('/') || returnTo.startsWith('//') || returnTo.includes('\\')) {
      throw new TypeError('returnTo must be a path on this origin');
    }
    const q = new URLSearchParams({ returnTo });
    if (options.acrValues) q.set('acr_values', options.acrValues);
    if (options.maxAge !== undefined) q.set('max_age', String(options.maxAge));
    if (options.prompt) q.set('prompt', options.prompt);
    if (options.loginHint) q.set('login_hint', options.loginHint);
    if (options.uiLocales) q.set('ui_locales', options.uiLocales);
    this.#navigate(`${this.#base}/bff/login?${q}`);
    return leaving();
  }

  /**
   * Ends the BFF session and the platform session, tells every tab and
   * micro-frontend at once, and follows the platform's sign-out.
   */
  async logout(): Promise<never> {
    if (!this.#csrf) await this.refresh();
    let redirect = '/';
    try {
      const res = await this.#fetch(`${this.#base}/bff/logout`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { accept: 'application/json', ...(this.#csrf ? { [CSRF_HEADER]: this.#csrf } : {}) },
      });
      const body = await res.json().catch(() => ({})) as { redirect?: unknown };
      if (res.ok && typeof body.redirect === 'string') redirect = body.redirect;
    } catch {
      // The BFF unreachable: the tabs still forget the session; the platform's sign-out is not reached.
    }
    this.#storage?.removeItem('tessera:pending-request');
    this.#csrf = null;
    this.#setState(emptyState('unauthenticated'));
    this.#post({ type: 'signed-out' });
    this.#navigate(redirect);
    return leaving();
  }

  /**
   * `fetch` for the app's API behind the BFF: adds the CSRF header to
   * state-changing calls; a `401 login_required` becomes a sign-in and a
   * `401 insufficient_user_authentication` a step-up sign-in (with the
   * `acr_values` / `max_age` of the challenge). The request is kept and sent
   * once more when the page comes back (`takeReplayed`). Other answers,
   * including the API's own `403`, come back as they are.
   */
  async fetch(input: string | URL, init: TesseraFetchInit = {}): Promise<Response> {
    const { replayKey, retry, ...request } = init;
    const url = String(input);
    const method = (request.method ?? 'GET').toUpperCase();
    const headers = new Headers(request.headers);
    if (!headers.has('accept')) headers.set('accept', 'application/json');
    if (!SAFE_METHODS.has(method)) {
      if (!this.#csrf) await this.refresh();
      if (this.#csrf) headers.set(CSRF_HEADER, this.#csrf);
    }
    const res = await this.#fetch(url, { ...request, method, headers, credentials: request.credentials ?? 'same-origin' });
    if (res.status !== 401 || retry === false) return res;
    const challenge = await readChallenge(res);
    if (challenge.kind === 'other') return res;
    if (challenge.kind === 'login') {
      this.#csrf = null;
      this.#setState(emptyState('unauthenticated'));
    }
    const body = serialisableBody(request.body);
    if (this.#storage && body !== undefined) {
      savePending(this.#storage, {
        key: replayKey ?? `${method} ${url}`, url, method, body, savedAt: this.#now(),
        headers: [...headers].filter(([name]) => name !== CSRF_HEADER),
      });
    }
    return this.login(challenge.kind === 'step-up'
      ? { ...(challenge.acrValues ? { acrValues: challenge.acrValues } : {}), ...(challenge.maxAge !== undefined ? { maxAge: challenge.maxAge } : {}) }
      : {});
  }

  /**
   * The answer to the request that waited for the sign-in this page came back
   * from, if it was named `key` (once; `undefined` afterwards).
   */
  async takeReplayed(key: string): Promise<Response | undefined> {
    await this.init();
    const replay = this.#replayed.get(key);
    this.#replayed.delete(key);
    return replay;
  }

  /** Stops listening to the other tabs. */
  close(): void {
    this.#channel?.close();
  }

  async #load(): Promise<SessionState> {
    let next: SessionState;
    try {
      const res = await this.#fetch(`${this.#base}/bff/user`, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (res.status === 200) {
        const user = await res.json() as BffUser;
        this.#csrf = typeof user.csrf_token === 'string' ? user.csrf_token : null;
        next = stateFromUser(user);
      } else if (res.status === 401) {
        this.#csrf = null;
        next = emptyState('unauthenticated');
      } else {
        next = emptyState('error', `the BFF answered ${res.status}`);
      }
    } catch (err) {
      next = emptyState('error', err instanceof Error ? err.message : String(err));
    }
    this.#setState(next);
    return next;
  }

  #replayPending(state: SessionState): void {
    if (!this.#storage) return;
    const pending = takePending(this.#storage, this.#now());
    // Signed out (the sign-in was cancelled): the request is dropped, never sent anonymously.
    if (!pending || state.status !== 'authenticated') return;
    const response = this.fetch(pending.url, {
      method: pending.method, headers: pending.headers, retry: false, ...(pending.body !== null ? { body: pending.body } : {}),
    });
    this.#replayed.set(pending.key, response);
    response.then((r) => this.dispatchEvent(new CustomEvent('replayed', { detail: { key: pending.key, response: r } })), () => {});
  }

  #setState(next: SessionState): void {
    if (sameState(this.#state, next)) return;
    this.#state = next;
    this.dispatchEvent(new CustomEvent('change', { detail: next }));
  }

  #post(message: TabMessage): void {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // A closed channel: this tab is going away.
    }
  }

  #onTabMessage(message: TabMessage | undefined): void {
    if (message?.type === 'signed-out') {
      // The session is gone for every tab (one cookie): forget it now, without asking the BFF.
      this.#csrf = null;
      this.#setState(emptyState('unauthenticated'));
    } else if (message?.type === 'hello') {
      const s = this.#state;
      if (s.status !== 'authenticated' || s.sub !== message.sub || s.acr !== message.acr || s.authTime !== message.authTime) {
        void this.refresh();
      }
    }
  }
}
