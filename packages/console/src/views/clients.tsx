import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, takeReplayed } from '../api.js';
import type { ApiResult } from '../api.js';
import { Link, navigate } from '../router.js';
import { ErrorBox, Loading, Notice, Page, SecretOnce, Time, useLoad } from '../ui.js';
import {
  BUILT_IN_CLIENTS, ClientForm, createBody, emptyForm, formOf, patchBody,
} from './clients-form.js';
import type { ClientFormState, ClientView, CreatedClient, TenantOption } from './clients-form.js';

/**
 * Clients: list, register (the secret of a confidential client is shown
 * once, from component state only), read and edit with ETag/If-Match,
 * rotate the secret (step-up), delete. docs/admin.md#clients.
 */

type Props = { params: Record<string, string> };

interface RotateResult {
  client_id: string;
  client_secret: string;
  previous_secret_expires_at: string | null;
}

const clientPath = (id: string) => `/clients/${encodeURIComponent(id)}`;

export function clientType(c: Pick<ClientView, 'token_endpoint_auth_method'>): 'public' | 'confidential' {
  return c.token_endpoint_auth_method === 'none' ? 'public' : 'confidential';
}

/** Tenants the caller administers (platform administrators: all), for the tenant choice; none when the call is refused. */
function useTenants(): TenantOption[] | undefined {
  return useLoad(() => api<{ items: TenantOption[] }>('GET', '/tenants').then((r) => r.data.items).catch(() => []), []).data;
}

export function ClientsList(_props: Props): JSX.Element {
  const { data, error, loading } = useLoad(() => api<{ items: ClientView[] }>('GET', '/clients'), []);
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const items = (data?.data.items ?? []).filter((c) => !f || c.client_id.toLowerCase().includes(f) || (c.client_name ?? '').toLowerCase().includes(f));
  return (
    <Page title="Clients" actions={<>
      <button type="button" class="btn" onClick={() => navigate('/clients/partner')}>Onboard a partner</button>
      <button type="button" class="btn primary" onClick={() => navigate('/clients/new')}>Create client</button>
    </>}>
      <ErrorBox error={error} />
      <div class="toolbar">
        <label>
          Filter
          <input type="search" value={filter} placeholder="Client ID or name" onInput={(e) => setFilter(e.currentTarget.value)} />
        </label>
      </div>
      {loading && !data ? <Loading /> : null}
      {data ? (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th>Client ID</th><th>Name</th><th>Tenant</th><th>Type</th><th>Consent</th><th>Grant types</th></tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.client_id}>
                  <td><Link href={clientPath(c.client_id)}>{c.client_id}</Link></td>
                  <td>{c.client_name ?? <span class="muted">—</span>}</td>
                  <td>{c.tenant}</td>
                  <td><span class={`badge${clientType(c) === 'confidential' ? ' ok' : ''}`}>{clientType(c)}</span></td>
                  <td>{c.first_party ? <span class="badge ok">first party</span> : <span class="muted">asks consent</span>}</td>
                  <td>{(c.grant_types ?? []).map((g) => <span key={g} class={`badge${g === 'password' ? ' warn' : ''}`}>{g}</span>)}</td>
                </tr>
              ))}
              {items.length === 0 ? <tr><td colSpan={6} class="muted">No clients{f ? ' match the filter' : ''}.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}

/** The secret of a newly registered (or rotated) client: component state only, so a reload or navigation loses it for good. */
function CreatedPage(props: { client: CreatedClient; secret: string }): JSX.Element {
  return (
    <Page title="Client created">
      <Notice kind="success">Client <strong>{props.client.client_id}</strong> was registered.</Notice>
      <SecretOnce label="Client secret" value={props.secret} />
      <p class="muted">
        Store the secret in your application's configuration now. Tessera keeps only a digest of it: this page will not show it again.
        If it is lost, rotate the secret on the client's page.
      </p>
      <div class="actions">
        <Link href={clientPath(props.client.client_id)} class="btn primary">Continue to client</Link>
        <Link href="/clients" class="btn">Back to clients</Link>
      </div>
    </Page>
  );
}

export function ClientCreate(_props: Props): JSX.Element {
  // After a step-up round trip (a first-party client, or one with admin scopes), the shell replayed the POST.
  const [replay] = useState(() => takeReplayed<CreatedClient>('clients.create'));
  const [created, setCreated] = useState<CreatedClient | null>(replay && !(replay instanceof ApiError) ? replay.data : null);
  const [error, setError] = useState<unknown>(replay instanceof ApiError ? replay : null);
  const [busy, setBusy] = useState(false);
  const tenants = useTenants();

  const secret = created?.client_secret;
  useEffect(() => {
    if (created && !secret) navigate(clientPath(created.client_id), { replace: true });
  }, [created, secret]);

  if (created && secret) return <CreatedPage client={created} secret={secret} />;

  const submit = async (s: ClientFormState) => {
    setBusy(true);
    setError(null);
    try {
      const res = await api<CreatedClient>('POST', '/clients', { body: createBody(s), replayKey: 'clients.create' });
      setCreated(res.data);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Create client">
      <ClientForm mode="create" initial={emptyForm()} error={error} busy={busy} tenants={tenants} submitLabel="Create client" onSubmit={submit}
        status={<ErrorBox error={error} />} extraActions={<Link href="/clients" class="btn">Cancel</Link>} />
    </Page>
  );
}

/** One component instance per client: state (a rotated secret) never leaks from one client's page to another's. */
export function ClientDetail(props: Props): JSX.Element {
  const id = props.params.id ?? '';
  return <ClientDetailPage key={id} id={id} />;
}

const OVERLAPS: { seconds: number; label: string }[] = [
  { seconds: 0, label: 'None: the old secret stops at once' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '1 day (default)' },
  { seconds: 7 * 86_400, label: '7 days' },
  { seconds: 30 * 86_400, label: '30 days (longest)' },
];

function replayedData<T>(r: ApiResult<T> | ApiError | undefined): T | null {
  return r && !(r instanceof ApiError) ? r.data : null;
}

function ClientDetailPage({ id }: { id: string }): JSX.Element {
  const rotateKey = `clients.rotate:${id}`;
  const updateKey = `clients.update:${id}`;
  // Outcomes of operations replayed after a step-up sign-in, read once on mount.
  const [rotateReplay] = useState(() => takeReplayed<RotateResult>(rotateKey));
  const [updateReplay] = useState(() => takeReplayed<ClientView>(updateKey));

  const [rotated, setRotated] = useState<RotateResult | null>(replayedData(rotateReplay));
  const [rotateError, setRotateError] = useState<unknown>(rotateReplay instanceof ApiError ? rotateReplay : null);
  const [saveError, setSaveError] = useState<unknown>(updateReplay instanceof ApiError ? updateReplay : null);
  const [saved, setSaved] = useState<string | null>(replayedData(updateReplay) ? 'Changes saved.' : null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [overlap, setOverlap] = useState(86_400);
  const [busy, setBusy] = useState(false);

  const load = useLoad(() => api<ClientView>('GET', clientPath(id)), [id]);
  const tenants = useTenants();
  const client = load.data?.data;
  const etag = load.data?.etag;
  const builtIn = BUILT_IN_CLIENTS.has(id);

  if (!client) {
    return (
      <Page title={`Client ${id}`}>
        <ErrorBox error={load.error} />
        {load.loading ? <Loading /> : null}
        <p><Link href="/clients">Back to clients</Link></p>
      </Page>
    );
  }

  const save = async (s: ClientFormState) => {
    const patch = patchBody(s, client);
    setSaved(null);
    setSaveError(null);
    if (Object.keys(patch).length === 0) {
      setSaved('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      await api<ClientView>('PATCH', clientPath(id), { body: patch, ...(etag ? { ifMatch: etag } : {}), replayKey: updateKey });
      setSaved('Changes saved.');
      load.reload();
    } catch (err) {
      setSaveError(err);
    } finally {
      setBusy(false);
    }
  };

  const rotate = async () => {
    const choice = OVERLAPS.find((o) => o.seconds === overlap)?.label ?? `${overlap} s`;
    if (!window.confirm(`Rotate the secret of ${id}? A new secret is generated and shown once. Overlap for the current secret: ${choice}.`)) return;
    setBusy(true);
    setRotateError(null);
    setRotated(null);
    try {
      const res = await api<RotateResult>('POST', `${clientPath(id)}/secret`, { body: { overlap_seconds: overlap }, replayKey: rotateKey });
      setRotated(res.data);
      load.reload();
    } catch (err) {
      setRotateError(err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!window.confirm(`Delete client ${id}? Its credentials and tokens stop working at once. This cannot be undone.`)) return;
    setBusy(true);
    setDeleteError(null);
    try {
      await api('DELETE', clientPath(id), etag ? { ifMatch: etag } : {});
      navigate('/clients');
    } catch (err) {
      setDeleteError(err);
      setBusy(false);
    }
  };

  const stale = (e: unknown) => e instanceof ApiError && e.status === 412;
  const staleNotice = (
    <Notice kind="warning">
      This client was changed elsewhere since you opened it. <button type="button" class="btn" onClick={() => { setSaveError(null); setDeleteError(null); load.reload(); }}>Reload</button>{' '}
      to see the current version, then make your change again.
    </Notice>
  );

  return (
    <Page title={client.client_name ? `${client.client_name} (${client.client_id})` : `Client ${client.client_id}`}
      actions={builtIn ? null : <button type="button" class="btn danger" disabled={busy} onClick={remove}>Delete client</button>}>
      {stale(deleteError) ? staleNotice : <ErrorBox error={deleteError} />}
      {builtIn ? <Notice kind="info">This client is registered by Tessera at every start: it cannot be changed, rotated or deleted here.</Notice> : null}

      {rotated ? (
        <div class="card">
          <h2>Secret rotated</h2>
          <SecretOnce label="New client secret" value={rotated.client_secret} />
          <Notice kind={rotated.previous_secret_expires_at ? 'info' : 'warning'}>
            {rotated.previous_secret_expires_at
              ? <>The previous secret keeps working until <Time value={rotated.previous_secret_expires_at} />, so deployments can switch without downtime.</>
              : <>The previous secret stopped working at once.</>}
          </Notice>
        </div>
      ) : null}

      <dl class="kv card">
        <dt>Client ID</dt><dd>{client.client_id}</dd>
        <dt>Tenant</dt><dd>{client.tenant}</dd>
        <dt>Type</dt><dd><span class="badge">{clientType(client)}</span></dd>
        <dt>Consent</dt><dd>{client.first_party ? <span class="badge ok">first party (no consent page)</span> : 'asks for consent'}</dd>
        <dt>Secret</dt><dd>{client.has_secret ? 'set (never shown again)' : client.token_endpoint_auth_method === 'private_key_jwt'
          ? `none: signs assertions with its keys (${client.jwks_uri ?? `${client.jwks?.keys.length ?? 0} key(s) declared`})` : 'none (public client)'}</dd>
        {client.previous_secret_expires_at ? <><dt>Previous secret works until</dt><dd><Time value={client.previous_secret_expires_at} /></dd></> : null}
        <dt>Created</dt><dd><Time value={client.created_at} /></dd>
        <dt>Updated</dt><dd><Time value={client.updated_at} /></dd>
      </dl>

      {client.has_secret && !builtIn ? (
        <section class="card">
          <h2>Rotate secret</h2>
          <p>
            Rotating generates a new secret, shown once. The current secret keeps working for the overlap window below, so you can
            deploy the new one without downtime; then it stops. Only one previous secret is kept: rotating again during an overlap
            ends the older secret at once. Rotation needs a recent multi-factor sign-in.
          </p>
          <ErrorBox error={rotateError} />
          <div class="toolbar">
            <label>
              Overlap window
              <select value={String(overlap)} onChange={(e) => setOverlap(Number(e.currentTarget.value))}>
                {OVERLAPS.map((o) => <option key={o.seconds} value={String(o.seconds)}>{o.label}</option>)}
              </select>
            </label>
            <button type="button" class="btn" disabled={busy} onClick={rotate}>Rotate secret</button>
          </div>
        </section>
      ) : null}

      <section>
        <h2>Settings</h2>
        <ClientForm key={etag ?? client.updated_at ?? ''} mode="edit" initial={formOf(client)} error={stale(saveError) ? null : saveError}
          busy={busy} tenants={tenants} readOnly={builtIn} submitLabel="Save changes" onSubmit={save}
          status={<>
            {saved ? <Notice kind="success">{saved}</Notice> : null}
            {stale(saveError) ? staleNotice : <ErrorBox error={saveError} />}
          </>} />
      </section>
    </Page>
  );
}
