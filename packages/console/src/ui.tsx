import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { loadConfig, signIn } from './auth';

/** A page: its <h1> title (also the document title), actions beside it, then the content. */
export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }): JSX.Element {
  useEffect(() => {
    document.title = `${props.title} · Tessera console`;
  }, [props.title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title">{props.title}</h1>
        {props.actions ? <div class="page-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

/** Human text for the API's stable field codes (docs/admin.md#conventions). */
const FIELD_MESSAGES: Record<string, string> = {
  required: 'Required.',
  invalid: 'Not valid.',
  too_short: 'Too short.',
  too_long: 'Too long.',
  too_small: 'Too small.',
  too_large: 'Too large.',
  too_few: 'Too few.',
  too_many: 'Too many.',
  invalid_email: 'Not an email address.',
  invalid_username: 'Usernames cannot contain spaces, "@" or control characters.',
  invalid_phone: 'Use the international format, e.g. +4930123456.',
  unknown_field: 'Not a known field.',
  unknown_role: 'No such role in this tenant.',
  unknown_tenant: 'No such tenant.',
  not_a_member: 'The user is not a member of that tenant.',
  cannot_change_client_type: 'A client cannot switch between public and confidential.',
  common_password: 'Too common: choose a less guessable password.',
  same_as_identifier: 'Must not be the same as the username or email.',
  taken: 'Already taken.',
};

/** The message for one field code. */
export function fieldMessage(code: string): string {
  return FIELD_MESSAGES[code] ?? code.replace(/_/g, ' ');
}

/** Human text for the API's error codes. */
const ERROR_TITLES: Record<string, string> = {
  validation_failed: 'Some fields are invalid',
  conflict: 'Conflict',
  not_found: 'Not found',
  access_denied: 'Not allowed',
  insufficient_scope: 'Not allowed (missing scope)',
  insufficient_user_authentication: 'A recent multi-factor sign-in is needed',
  precondition_failed: 'Changed by someone else: reload and try again',
  precondition_required: 'Reload and try again',
  invalid_token: 'Your sign-in has expired',
  network_error: 'The server could not be reached',
  step_up_not_completed: 'Not done: the multi-factor confirmation was cancelled',
};

/** An error box: an ApiError's code, description and fields; any other error's message. Nothing for no error. */
export function ErrorBox(props: { error: unknown }): JSX.Element | null {
  const e = props.error;
  if (e === undefined || e === null || e === false) return null;
  if (e instanceof ApiError) {
    const fields = e.fields ? Object.entries(e.fields) : [];
    return (
      <div class="alert error" role="alert">
        <strong>{ERROR_TITLES[e.code] ?? e.code.replace(/_/g, ' ')}</strong>
        {e.description ? <p>{e.description}</p> : null}
        {fields.length ? (
          <ul class="field-errors">
            {fields.map(([name, code]) => (
              <li key={name}><code>{name}</code>: {fieldMessage(code)}</li>
            ))}
          </ul>
        ) : null}
        <p class="muted small">Code: <code>{e.code}</code>{e.status ? ` (HTTP ${e.status})` : ''}</p>
        {e.code === 'insufficient_user_authentication' ? (
          // The step-up just done did not satisfy the API (the loop guard stopped a second redirect):
          // a whole new sign-in (prompt=login) at the MFA level, then the person retries.
          <div class="actions">
            <button type="button" class="btn" onClick={() => void loadConfig().then((c) => signIn({ acrValues: c.acr_mfa, maxAge: c.step_up_max_age, prompt: 'login' }))}>
              Sign in again with your second factor
            </button>
          </div>
        ) : null}
      </div>
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  return (
    <div class="alert error" role="alert">
      <strong>Something went wrong</strong>
      <p>{message}</p>
    </div>
  );
}

/**
 * A form field: a real <label> wrapping the control (so it is the control's
 * accessible name), a hint, and the API's error for `name` (field path).
 */
export function Field(props: { label: string; name: string; error?: ApiError | null; hint?: string; children: ComponentChildren }): JSX.Element {
  const code = props.error?.fields?.[props.name];
  return (
    <div class={code ? 'field invalid' : 'field'}>
      <label>
        <span class="label-text">{props.label}</span>
        {props.children}
      </label>
      {props.hint ? <p class="hint">{props.hint}</p> : null}
      {code ? <p class="field-error" role="alert" data-field={props.name}>{fieldMessage(code)}</p> : null}
    </div>
  );
}

/** Loads data for a view; `reload()` runs the loader again (keeping what is shown meanwhile). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data?: T; error?: unknown; loading: boolean; reload(): void } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const first = useRef(true);
  // A change of deps shows a fresh load; a reload keeps the current data on screen.
  const depsKey = useRef<unknown[]>(deps);
  useEffect(() => {
    let live = true;
    const changed = !first.current && !sameDeps(depsKey.current, deps);
    first.current = false;
    depsKey.current = deps;
    setState((s) => (changed ? { loading: true } : { ...s, loading: true }));
    loadRef.current().then(
      (data) => {
        if (live) setState({ data, loading: false });
      },
      (error: unknown) => {
        if (live) setState((s) => ({ ...(changed ? {} : { data: s.data }), error, loading: false }));
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

function sameDeps(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/** A notice: info (default), success or warning. */
export function Notice(props: { kind?: 'info' | 'success' | 'warning'; children: ComponentChildren }): JSX.Element {
  const kind = props.kind ?? 'info';
  return (
    <div class={`alert ${kind}`} role={kind === 'info' ? 'status' : 'alert'}>
      {props.children}
    </div>
  );
}

/** A secret shown exactly once, with a copy button. */
export function SecretOnce(props: { label: string; value: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div class="alert warning secret-once">
      <p><strong>{props.label}</strong> (shown only once: copy it now, it cannot be shown again)</p>
      <div class="secret-row">
        <code class="secret" data-secret>{props.value}</code>
        <button type="button" class="btn" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
    </div>
  );
}

/** Keyset pagination: first page and next page (there is no total and no "previous"). */
export function Pager(props: { next?: string | null; onNext(cursor: string): void; onFirst?(): void }): JSX.Element {
  const next = props.next;
  return (
    <nav class="pager" aria-label="Pagination">
      {props.onFirst ? (
        <button type="button" class="btn" onClick={() => props.onFirst?.()}>First page</button>
      ) : null}
      <button type="button" class="btn" disabled={!next} onClick={() => next && props.onNext(next)}>Next page</button>
    </nav>
  );
}

/** A status badge for users: ok for active, warn for pending/locked, bad for disabled. */
export function StatusBadge(props: { status: string; locked?: boolean }): JSX.Element {
  const kind = props.locked ? 'warn' : props.status === 'active' ? 'ok' : props.status === 'disabled' ? 'bad' : 'warn';
  return <span class={`badge ${kind}`}>{props.locked && props.status !== 'locked' ? `${props.status}, locked` : props.status}</span>;
}

/** A date-time in the browser's locale, with the ISO value as its machine-readable form. */
export function Time(props: { value: string | null | undefined }): JSX.Element {
  if (!props.value) return <span class="muted">—</span>;
  const d = new Date(props.value);
  return <time dateTime={props.value} title={props.value}>{Number.isNaN(d.getTime()) ? props.value : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}</time>;
}

/** A loading line (for pages waiting for their first data). */
export function Loading(): JSX.Element {
  return <p class="muted loading" role="status">Loading…</p>;
}
