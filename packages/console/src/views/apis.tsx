import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { loadConfig } from '../auth.js';
import { Link, navigate } from '../router.js';
import { ErrorBox, Field, Loading, Notice, Page, Time, useLoad } from '../ui.js';
import { formError } from './clients-form.js';

/**
 * APIs (resource servers): identifier, name, scopes, signing algorithm and
 * access-token lifetime (docs/admin.md#apis-and-scopes). Declaring and
 * changing them is for platform administrators; the admin API itself is
 * declared at every start and cannot be changed (the API answers 409).
 */

type Props = { params: Record<string, string> };

interface ApiView {
  identifier: string;
  name: string;
  scopes: string[];
  signing_alg: string;
  access_token_ttl: number;
  access_token_format: 'jwt' | 'opaque';
  created_at: string | null;
  updated_at: string | null;
}

const ALGS = ['ES256', 'RS256'] as const;
/** The identifier is a URL: one percent-encoded path segment, in the console's routes and in the API's. */
const apiPath = (identifier: string) => `/apis/${encodeURIComponent(identifier)}`;

/** The admin API's identifier (`resource` of the console's configuration): shown read-only. */
function useAdminApi(): string | undefined {
  return useLoad(() => loadConfig().then((c) => c.resource).catch(() => undefined), []).data;
}

function ttlText(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function ApisList(_props: Props): JSX.Element {
  const { data, error, loading } = useLoad(() => api<{ items: ApiView[] }>('GET', '/apis'), []);
  const adminApi = useAdminApi();
  return (
    <Page title="APIs" actions={<button type="button" class="btn primary" onClick={() => navigate('/apis/new')}>Declare API</button>}>
      <p class="muted">Resource servers that clients get access tokens for, with their scopes. Declaring and changing APIs is for platform administrators.</p>
      <ErrorBox error={error} />
      {loading && !data ? <Loading /> : null}
      {data ? (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th>Identifier</th><th>Name</th><th>Scopes</th><th>Tokens</th><th>Token lifetime</th></tr>
            </thead>
            <tbody>
              {data.data.items.map((a) => (
                <tr key={a.identifier}>
                  <td>
                    <Link href={apiPath(a.identifier)}>{a.identifier}</Link>
                    {a.identifier === adminApi ? <> <span class="badge">built in</span></> : null}
                  </td>
                  <td>{a.name}</td>
                  <td>{a.scopes.length ? a.scopes.map((s) => <span key={s} class="badge">{s}</span>) : <span class="muted">none</span>}</td>
                  <td>{a.access_token_format === 'opaque' ? 'opaque' : `JWT ${a.signing_alg}`}</td>
                  <td>{ttlText(a.access_token_ttl)}</td>
                </tr>
              ))}
              {data.data.items.length === 0 ? <tr><td colSpan={5} class="muted">No APIs declared.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}

interface ApiFormState {
  identifier: string;
  name: string;
  scopes: string[];
  signing_alg: string;
  access_token_ttl: string;
  access_token_format: 'jwt' | 'opaque';
}

/** Scopes as removable chips plus an input to add one (Enter or the Add button). */
function ScopesEditor(props: { scopes: string[]; disabled: boolean; error: ApiError | null; onChange(scopes: string[]): void }): JSX.Element {
  const [draft, setDraft] = useState('');
  const add = () => {
    const fresh = draft.split(/\s+/).filter((s) => s && !props.scopes.includes(s));
    if (fresh.length) props.onChange([...props.scopes, ...fresh]);
    setDraft('');
  };
  return (
    <fieldset class="group">
      <legend>Scopes</legend>
      {props.scopes.length ? (
        <div class="badges" role="list" aria-label="Scopes">
          {props.scopes.map((s) => (
            <span key={s} class="badges" role="listitem">
              <span class="badge">{s}</span>
              {props.disabled ? null : (
                <button type="button" class="btn small" aria-label={`Remove scope ${s}`} onClick={() => props.onChange(props.scopes.filter((x) => x !== s))}>Remove</button>
              )}
            </span>
          ))}
        </div>
      ) : <p class="muted">No scopes.</p>}
      {props.disabled ? null : (
        <div class="toolbar">
          <Field label="New scope" name="scopes" error={props.error} hint="A scope token such as orders.read (no spaces or quotes).">
            <input value={draft} spellcheck={false} autoComplete="off" onInput={(e) => setDraft(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  add();
                }
              }} />
          </Field>
          <button type="button" class="btn" onClick={add}>Add scope</button>
        </div>
      )}
    </fieldset>
  );
}

function ApiForm(props: {
  mode: 'create' | 'edit'; initial: ApiFormState; error: unknown; busy: boolean; readOnly: boolean; submitLabel: string;
  onSubmit(s: ApiFormState): void; extraActions?: JSX.Element | null; status?: JSX.Element | null;
}): JSX.Element {
  const [s, setS] = useState(props.initial);
  const set = <K extends keyof ApiFormState>(k: K, v: ApiFormState[K]) => setS((p) => ({ ...p, [k]: v }));
  const err = formError(props.error, 'Scope');
  const ro = props.readOnly;
  return (
    <form class="form" noValidate onSubmit={(e) => {
      e.preventDefault();
      if (!ro) props.onSubmit(s);
    }}>
      <fieldset disabled={props.busy || ro}>
        <Field label="Identifier" name="identifier" error={err}
          hint={props.mode === 'create' ? 'An absolute URL naming the API, e.g. https://api.example.com/orders. The audience of its tokens; cannot be changed later.' : 'The audience of its tokens; cannot be changed.'}>
          <input name="identifier" value={s.identifier} readOnly={props.mode === 'edit'} spellcheck={false} autoComplete="off"
            onInput={(e) => set('identifier', e.currentTarget.value)} />
        </Field>
        <Field label="Name" name="name" error={err}>
          <input name="name" value={s.name} readOnly={ro} onInput={(e) => set('name', e.currentTarget.value)} />
        </Field>
        <ScopesEditor scopes={s.scopes} disabled={ro} error={err} onChange={(scopes) => set('scopes', scopes)} />
        <div class="grid2">
          <Field label="Access token format" name="access_token_format" error={err}
            hint="JWT: the API verifies tokens itself. Opaque: the API introspects them, so a revocation takes effect at once.">
            <select name="access_token_format" value={s.access_token_format} disabled={ro}
              onChange={(e) => set('access_token_format', e.currentTarget.value as ApiFormState['access_token_format'])}>
              <option value="jwt">JWT (RFC 9068)</option>
              <option value="opaque">Opaque (introspection)</option>
            </select>
          </Field>
          <Field label="Signing algorithm" name="signing_alg" error={err} hint="JWT access tokens for this API are signed with this algorithm.">
            <select name="signing_alg" value={s.signing_alg} disabled={ro} onChange={(e) => set('signing_alg', e.currentTarget.value)}>
              {ALGS.map((a) => <option key={a} value={a}>{a}</option>)}
            </select>
          </Field>
          <Field label="Access token lifetime (seconds)" name="access_token_ttl" error={err}>
            <input name="access_token_ttl" inputMode="numeric" value={s.access_token_ttl} readOnly={ro} onInput={(e) => set('access_token_ttl', e.currentTarget.value)} />
          </Field>
        </div>
      </fieldset>
      {props.status}
      <div class="actions">
        {ro ? null : <button type="submit" class="btn primary" disabled={props.busy}>{props.submitLabel}</button>}
        {props.extraActions}
      </div>
    </form>
  );
}

const ttlValue = (t: string): number | string => (/^\d+$/.test(t.trim()) ? Number(t.trim()) : t);

export function ApiCreate(_props: Props): JSX.Element {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (s: ApiFormState) => {
    setBusy(true);
    setError(null);
    try {
      const res = await api<ApiView>('POST', '/apis', {
        body: { identifier: s.identifier.trim(), name: s.name.trim(), scopes: s.scopes, signing_alg: s.signing_alg, access_token_ttl: ttlValue(s.access_token_ttl), access_token_format: s.access_token_format },
      });
      navigate(apiPath(res.data.identifier));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Page title="Declare API">
      <ApiForm status={<ErrorBox error={error} />} mode="create" initial={{ identifier: '', name: '', scopes: [], signing_alg: 'ES256', access_token_ttl: '3600', access_token_format: 'jwt' }} error={error} busy={busy}
        readOnly={false} submitLabel="Declare API" onSubmit={submit} extraActions={<Link href="/apis" class="btn">Cancel</Link>} />
    </Page>
  );
}

export function ApiDetail(props: Props): JSX.Element {
  const identifier = props.params.identifier ?? '';
  return <ApiDetailPage key={identifier} identifier={identifier} />;
}

function ApiDetailPage({ identifier }: { identifier: string }): JSX.Element {
  const load = useLoad(() => api<ApiView>('GET', apiPath(identifier)), [identifier]);
  const adminApi = useAdminApi();
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const a = load.data?.data;
  const etag = load.data?.etag;

  if (!a) {
    return (
      <Page title="API">
        <ErrorBox error={load.error} />
        {load.loading ? <Loading /> : null}
        <p><Link href="/apis">Back to APIs</Link></p>
      </Page>
    );
  }
  const builtIn = a.identifier === adminApi;

  const save = async (s: ApiFormState) => {
    const patch: Record<string, unknown> = {};
    if (s.name.trim() !== a.name) patch.name = s.name.trim();
    if (JSON.stringify(s.scopes) !== JSON.stringify(a.scopes)) patch.scopes = s.scopes;
    if (s.signing_alg !== a.signing_alg) patch.signing_alg = s.signing_alg;
    if (s.access_token_format !== a.access_token_format) patch.access_token_format = s.access_token_format;
    const ttl = ttlValue(s.access_token_ttl);
    if (ttl !== a.access_token_ttl) patch.access_token_ttl = ttl;
    setSaved(null);
    setError(null);
    if (!Object.keys(patch).length) {
      setSaved('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      await api<ApiView>('PATCH', apiPath(identifier), { body: patch, ...(etag ? { ifMatch: etag } : {}) });
      setSaved('Changes saved.');
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!window.confirm(`Delete the API ${identifier}? New tokens for it are refused; issued ones stay valid until they expire.`)) return;
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', apiPath(identifier), etag ? { ifMatch: etag } : {});
      navigate('/apis');
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const stale = error instanceof ApiError && error.status === 412;
  return (
    <Page title={a.name} actions={builtIn ? null : <button type="button" class="btn danger" disabled={busy} onClick={remove}>Delete API</button>}>
      {builtIn ? (
        <Notice kind="info">
          This is Tessera's own admin API. It is declared at every start and cannot be changed or deleted: shown read-only.
        </Notice>
      ) : null}
      <dl class="kv">
        <dt>Created</dt><dd><Time value={a.created_at} /></dd>
        <dt>Updated</dt><dd><Time value={a.updated_at} /></dd>
      </dl>
      <ApiForm key={etag ?? a.updated_at ?? ''} mode="edit" readOnly={builtIn} busy={busy} error={stale ? null : error} submitLabel="Save changes"
        initial={{ identifier: a.identifier, name: a.name, scopes: [...a.scopes], signing_alg: a.signing_alg, access_token_ttl: String(a.access_token_ttl), access_token_format: a.access_token_format }}
        onSubmit={save} status={<>
          {saved ? <Notice kind="success">{saved}</Notice> : null}
          {stale ? (
            <Notice kind="warning">
              This API was changed elsewhere since you opened it.{' '}
              <button type="button" class="btn" onClick={() => { setError(null); load.reload(); }}>Reload</button> to see the current version, then make your change again.
            </Notice>
          ) : <ErrorBox error={error} />}
        </>} />
    </Page>
  );
}
