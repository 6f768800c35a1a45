import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, takeReplayed } from '../api';
import { currentWho, isPlatformAdmin } from '../auth';
import { Link, navigate } from '../router';
import { ErrorBox, Field, Loading, Notice, Page, Time, useLoad } from '../ui';
import { TenantBranding } from './tenant-branding';
import { TenantDelete, takeDeletedNotice } from './tenant-delete';

/** A tenant as GET /tenants/{tenant} shows it. */
export interface TenantView {
  id: string;
  name: string;
  policy: TenantPolicy;
  created_at: string;
  updated_at: string;
}

/** The tenant policy (identity/policy.ts); shown and edited as a whole, so only what the console reads is typed. */
export interface TenantPolicy {
  registration: 'open' | 'invite_only' | 'closed';
  require_email_verification: boolean;
  mfa: { mode: 'off' | 'optional' | 'required'; required_roles: string[] };
  password: { min_length: number; max_length: number; forbid_common: boolean };
  lockout: { max_failures: number; window_seconds: number; duration_seconds: number };
  [key: string]: unknown;
}

export interface RoleView { name: string; description: string | null }

let tenantsCache: Promise<TenantView[]> | undefined;

/** Every tenant the caller administers (cached for the page's life; reset by tenant writes). */
export function useTenants(): TenantView[] {
  const [list, setList] = useState<TenantView[]>([]);
  useEffect(() => {
    let live = true;
    tenantsCache ??= api<{ items: TenantView[] }>('GET', '/tenants').then((r) => r.data.items);
    tenantsCache.then((items) => live && setList(items), () => {
      tenantsCache = undefined;
    });
    return () => {
      live = false;
    };
  }, []);
  return list;
}

/** A tenant's roles (empty while loading). */
export function useTenantRoles(tenant: string | undefined): RoleView[] {
  const [roles, setRoles] = useState<RoleView[]>([]);
  useEffect(() => {
    let live = true;
    setRoles([]);
    if (!tenant) return undefined;
    api<{ items: RoleView[] }>('GET', `/tenants/${encodeURIComponent(tenant)}/roles`).then(
      (r) => live && setRoles(r.data.items),
      () => live && setRoles([]),
    );
    return () => {
      live = false;
    };
  }, [tenant]);
  return roles;
}

/** Tenants: the list (a tenant administrator sees their own), and a new tenant for platform administrators. */
export function TenantsList(_props: { params: Record<string, string> }): JSX.Element {
  const { data, error, loading, reload } = useLoad(() => api<{ items: TenantView[] }>('GET', '/tenants').then((r) => r.data.items), []);
  const [creating, setCreating] = useState(false);
  const [deleted] = useState(takeDeletedNotice);
  const platform = isPlatformAdmin();
  return (
    <Page title="Tenants" actions={platform && !creating ? <button type="button" class="btn primary" onClick={() => setCreating(true)}>New tenant</button> : null}>
      {deleted ? <Notice kind="success">{deleted}</Notice> : null}
      {creating ? <TenantCreate onDone={() => { setCreating(false); tenantsCache = undefined; reload(); }} /> : null}
      <ErrorBox error={error} />
      {loading && !data ? <Loading /> : null}
      {data ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Tenant</th><th>Name</th><th>Registration</th><th>MFA</th><th>Created</th></tr></thead>
            <tbody>
              {data.map((t) => (
                <tr key={t.id}>
                  <td><Link href={`/tenants/${encodeURIComponent(t.id)}`}><code>{t.id}</code></Link>{t.id === currentWho()?.tenant ? <> <span class="badge">yours</span></> : null}</td>
                  <td>{t.name}</td>
                  <td>{t.policy.registration}</td>
                  <td>{t.policy.mfa.mode}</td>
                  <td class="nowrap"><Time value={t.created_at} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}

function TenantCreate(props: { onDone(): void }): JSX.Element {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>();
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const { data } = await api<TenantView>('POST', '/tenants', { body: { id: id.trim(), name: name.trim() } });
      props.onDone();
      navigate(`/tenants/${encodeURIComponent(data.id)}`);
    } catch (err) {
      setError(err);
    }
  };
  const fe = error instanceof ApiError ? error : null;
  return (
    <form class="form card" onSubmit={onSubmit} noValidate>
      <h2>New tenant</h2>
      <ErrorBox error={error} />
      <Field label="Tenant id" name="id" error={fe} hint="Letters, digits, '.', '_', ':' or '-'. Cannot be changed later.">
        <input name="id" value={id} onInput={(e) => setId((e.currentTarget as HTMLInputElement).value)} autoComplete="off" />
      </Field>
      <Field label="Name" name="name" error={fe}>
        <input name="name" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} autoComplete="off" />
      </Field>
      <div class="actions">
        <button type="submit" class="btn primary">Create tenant</button>
        <button type="button" class="btn" onClick={props.onDone}>Cancel</button>
      </div>
    </form>
  );
}

/**
 * One tenant: name and policy (edited by platform administrators: a policy
 * change needs step-up), and its roles (create, describe, delete).
 */
export function TenantDetail(props: { params: Record<string, string> }): JSX.Element {
  const id = props.params.tenant ?? '';
  const path = `/tenants/${encodeURIComponent(id)}`;
  const tenant = useLoad(() => api<TenantView>('GET', path), [path]);
  const replayKey = `tenant-update:${id}`;
  const [notice, setNotice] = useState<string>();
  const [replayError, setReplayError] = useState<unknown>();
  useEffect(() => {
    const out = takeReplayed<TenantView>(replayKey);
    if (out instanceof ApiError) setReplayError(out);
    else if (out) setNotice('Policy saved after your multi-factor confirmation.');
  }, [replayKey]);

  return (
    <Page title={tenant.data ? `Tenant ${tenant.data.data.name}` : `Tenant ${id}`}
      actions={<Link href={`/users?tenant=${encodeURIComponent(id)}`} class="btn">Users in this tenant</Link>}>
      {notice ? <Notice kind="success">{notice}</Notice> : null}
      <ErrorBox error={replayError} />
      <ErrorBox error={tenant.error} />
      {tenant.loading && !tenant.data ? <Loading /> : null}
      {tenant.data ? (
        <TenantSettings key={tenant.data.etag} tenant={tenant.data.data} etag={tenant.data.etag} path={path} replayKey={replayKey}
          onSaved={(msg) => { setNotice(msg); setReplayError(undefined); tenantsCache = undefined; tenant.reload(); }} onReload={tenant.reload} />
      ) : null}
      <TenantRoles tenant={id} />
      <TenantBranding tenant={id} />
      {isPlatformAdmin() && id !== 'default' ? <TenantDelete tenant={id} /> : null}
    </Page>
  );
}

function TenantSettings(props: {
  tenant: TenantView; etag: string | undefined; path: string; replayKey: string; onSaved(msg: string): void; onReload(): void;
}): JSX.Element {
  const { tenant } = props;
  const policyText = JSON.stringify(tenant.policy, null, 2);
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(tenant.name);
  const [mfaMode, setMfaMode] = useState(tenant.policy.mfa.mode);
  const [policy, setPolicy] = useState(policyText);
  const [error, setError] = useState<unknown>();
  const platform = isPlatformAdmin();

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const body: { name?: string; policy?: Record<string, unknown> } = {};
    if (name.trim() !== tenant.name) body.name = name.trim();
    let parsed: Record<string, unknown> | undefined;
    if (policy.trim() !== policyText.trim()) {
      try {
        parsed = JSON.parse(policy) as Record<string, unknown>;
      } catch {
        setError(new ApiError(400, 'validation_failed', 'The policy is not valid JSON.', { policy: 'invalid' }));
        return;
      }
    }
    if (mfaMode !== tenant.policy.mfa.mode) parsed = { ...(parsed ?? {}), mfa: { ...((parsed?.mfa as object) ?? {}), mode: mfaMode } };
    if (parsed) body.policy = parsed;
    if (!body.name && !body.policy) {
      setEditing(false);
      return;
    }
    try {
      await api('PATCH', props.path, { body, ...(props.etag ? { ifMatch: props.etag } : {}), replayKey: props.replayKey });
      setEditing(false);
      props.onSaved('Tenant saved.');
    } catch (err) {
      setError(err);
    }
  };
  const fe = error instanceof ApiError ? error : null;
  const p = tenant.policy;

  if (!editing) {
    return (
      <div class="card">
        <h2>Settings</h2>
        <dl class="kv">
          <dt>Tenant id</dt><dd><code>{tenant.id}</code></dd>
          <dt>Name</dt><dd>{tenant.name}</dd>
          <dt>Registration</dt><dd>{p.registration}{p.require_email_verification ? ', email must be verified' : ''}</dd>
          <dt>MFA</dt><dd>{p.mfa.mode}{p.mfa.required_roles.length ? ` (required for ${p.mfa.required_roles.join(', ')})` : ''}</dd>
          <dt>Passwords</dt><dd>{p.password.min_length}–{p.password.max_length} characters{p.password.forbid_common ? ', common passwords refused' : ''}</dd>
          <dt>Lockout</dt><dd>{p.lockout.max_failures} failures in {p.lockout.window_seconds} s lock for {p.lockout.duration_seconds} s</dd>
          <dt>Created</dt><dd><Time value={tenant.created_at} /></dd>
          <dt>Updated</dt><dd><Time value={tenant.updated_at} /></dd>
        </dl>
        <details>
          <summary>Full policy (JSON)</summary>
          <pre class="json">{policyText}</pre>
        </details>
        {platform ? <div class="actions"><button type="button" class="btn" onClick={() => setEditing(true)}>Edit settings</button></div> : null}
      </div>
    );
  }
  return (
    <form class="card form" onSubmit={onSubmit} noValidate>
      <h2>Edit settings</h2>
      <ErrorBox error={error} />
      {fe?.code === 'precondition_failed' ? <div class="actions"><button type="button" class="btn" onClick={props.onReload}>Reload</button></div> : null}
      <Field label="Name" name="name" error={fe}>
        <input name="name" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      </Field>
      <Field label="MFA mode" name="policy.mfa.mode" error={fe} hint="Changing the policy asks you to confirm with your second factor.">
        <select name="mfa_mode" value={mfaMode} onChange={(e) => setMfaMode((e.currentTarget as HTMLSelectElement).value as typeof mfaMode)}>
          <option value="off">off</option>
          <option value="optional">optional</option>
          <option value="required">required</option>
        </select>
      </Field>
      <Field label="Policy (JSON)" name="policy" error={fe} hint="The keys given are merged into the current policy.">
        <textarea name="policy" rows={14} value={policy} onInput={(e) => setPolicy((e.currentTarget as HTMLTextAreaElement).value)} spellcheck={false} />
      </Field>
      <div class="actions">
        <button type="submit" class="btn primary">Save</button>
        <button type="button" class="btn" onClick={() => setEditing(false)}>Cancel</button>
      </div>
    </form>
  );
}

function TenantRoles(props: { tenant: string }): JSX.Element {
  const path = `/tenants/${encodeURIComponent(props.tenant)}/roles`;
  const roles = useLoad(() => api<{ items: RoleView[] }>('GET', path).then((r) => r.data.items), [path]);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<unknown>();

  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('PUT', `${path}/${encodeURIComponent(name.trim())}`, { body: { description: description.trim() || null } });
      setName('');
      setDescription('');
      roles.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (role: string) => {
    if (!window.confirm(`Delete the role "${role}"? Users who have it lose it.`)) return;
    setError(undefined);
    try {
      await api('DELETE', `${path}/${encodeURIComponent(role)}`);
      roles.reload();
    } catch (err) {
      setError(err);
    }
  };
  const fe = error instanceof ApiError ? error : null;
  // A bad role name is reported on the path (404 or a field); show it by the name field.
  const nameError = fe && !fe.fields && fe.status === 404 ? new ApiError(400, 'validation_failed', undefined, { role: 'invalid' }) : fe;

  return (
    <div class="card">
      <h2>Roles</h2>
      <ErrorBox error={roles.error ?? error} />
      {roles.data ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Role</th><th>Description</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {roles.data.map((r) => (
                <tr key={r.name}>
                  <td><code>{r.name}</code></td>
                  <td>{r.description ?? <span class="muted">—</span>}</td>
                  <td class="nowrap">
                    {r.name === 'admin' ? <span class="muted small">built in</span> : (
                      <button type="button" class="btn small danger" aria-label={`Delete role ${r.name}`} onClick={() => void remove(r.name)}>Delete</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <Loading />}
      <form class="toolbar" onSubmit={save} noValidate>
        <Field label="Role name" name="role" error={nameError}>
          <input name="role" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} autoComplete="off" />
        </Field>
        <Field label="Description" name="description" error={fe}>
          <input name="description" value={description} onInput={(e) => setDescription((e.currentTarget as HTMLInputElement).value)} autoComplete="off" />
        </Field>
        <div class="actions">
          <button type="submit" class="btn primary" disabled={!name.trim()}>Save role</button>
        </div>
      </form>
    </div>
  );
}
