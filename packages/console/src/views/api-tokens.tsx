import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, qs, takeReplayed } from '../api.js';
import { ErrorBox, Field, Loading, Notice, Page, SecretOnce, Time, useLoad } from '../ui.js';
import { useTenants } from './tenants.js';

/**
 * API tokens for the provisioning APIs (docs/provisioning.md#api-tokens):
 * list a tenant's tokens, create one (shown once; needs a recent
 * multi-factor sign-in, replayed after it), revoke.
 */

type Props = { params: Record<string, string> };
const SCOPES = ['users.read', 'users.manage', 'groups.manage'] as const;
const REPLAY_KEY = 'api-tokens.create';

interface TokenView {
  id: string;
  tenant: string;
  name: string;
  hint: string;
  scopes: string[];
  created_by: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  status: 'active' | 'expired' | 'revoked';
}
type Created = TokenView & { token: string };

const STATUS_CLASS: Record<TokenView['status'], string> = { active: 'badge ok', expired: 'badge warn', revoked: 'badge' };

export function ApiTokensView(_props: Props): JSX.Element {
  const [replay] = useState(() => takeReplayed<Created>(REPLAY_KEY));
  const [created, setCreated] = useState<Created | null>(replay && !(replay instanceof ApiError) ? replay.data : null);
  const [error, setError] = useState<unknown>(replay instanceof ApiError ? replay : null);
  const [busy, setBusy] = useState(false);
  const tenants = useTenants();
  const [tenant, setTenant] = useState('');
  const [form, setForm] = useState({ name: '', scopes: new Set<string>(['users.read']), days: 90 });
  const load = useLoad(() => api<{ items: TokenView[] }>('GET', `/api-tokens${qs({ tenant: tenant || undefined })}`), [tenant]);
  const tokens = load.data?.data.items;
  const fieldError = error instanceof ApiError ? error : null;

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const body = { name: form.name, scopes: [...form.scopes], expires_in_days: form.days, ...(tenant ? { tenant } : {}) };
      const res = await api<Created>('POST', '/api-tokens', { body, replayKey: REPLAY_KEY });
      setCreated(res.data);
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: TokenView) => {
    if (!window.confirm(`Revoke the API token "${t.name}"? Systems using it stop at once.`)) return;
    setError(null);
    try {
      await api('DELETE', `/api-tokens/${encodeURIComponent(t.id)}`);
      load.reload();
    } catch (err) {
      setError(err);
    }
  };

  const toggle = (scope: string) => {
    const scopes = new Set(form.scopes);
    if (scopes.has(scope)) scopes.delete(scope);
    else scopes.add(scope);
    setForm({ ...form, scopes });
  };

  return (
    <Page title="API tokens">
      <p class="muted">
        Tokens for the provisioning APIs: the Okta-compatible Users API (<code>/compat/okta</code>, <code>Authorization: SSWS …</code>) and
        SCIM 2.0 (<code>/scim/v2/&lt;tenant&gt;</code>, <code>Authorization: Bearer …</code>). A token belongs to one tenant. Tessera keeps
        only a digest: a token is shown once, when it is created. Creating one needs a recent multi-factor sign-in.
      </p>
      {created ? (
        <>
          <SecretOnce label={`API token "${created.name}" (${created.tenant})`} value={created.token} />
          <Notice kind="warning">Store the token now: this page will not show it again. If it is lost, revoke it and create another.</Notice>
        </>
      ) : null}
      <ErrorBox error={error} />
      <form class="form" onSubmit={create}>
        <Field label="Name" name="name" error={fieldError} hint="What uses the token, e.g. Entra ID provisioning.">
          <input name="name" required maxLength={128} value={form.name} onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })} />
        </Field>
        <Field label="Tenant" name="tenant" error={fieldError}>
          <select name="tenant" value={tenant} onChange={(e) => setTenant((e.target as HTMLSelectElement).value)}>
            <option value="">Your tenant</option>
            {tenants.map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
          </select>
        </Field>
        <fieldset class="field">
          <legend class="label-text">Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" name="scopes" value={s} checked={form.scopes.has(s)} onChange={() => toggle(s)} /> <code>{s}</code>
            </label>
          ))}
        </fieldset>
        <Field label="Expires in (days)" name="expires_in_days" error={fieldError} hint="1 to 366.">
          <input name="expires_in_days" type="number" min={1} max={366} value={form.days}
            onInput={(e) => setForm({ ...form, days: Number((e.target as HTMLInputElement).value) })} />
        </Field>
        <div class="actions"><button type="submit" class="btn primary" disabled={busy || form.scopes.size === 0}>Create token</button></div>
      </form>
      <ErrorBox error={load.error} />
      {load.loading && !tokens ? <Loading /> : null}
      {tokens ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Name</th><th>Token</th><th>Scopes</th><th>Status</th><th>Created</th><th>Expires</th><th>Last used</th><th /></tr></thead>
            <tbody>
              {tokens.length === 0 ? <tr><td colSpan={8} class="muted">No API tokens in this tenant.</td></tr> : null}
              {tokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td><code>{t.hint}…</code></td>
                  <td>{t.scopes.map((s) => <code key={s}>{s} </code>)}</td>
                  <td><span class={STATUS_CLASS[t.status]}>{t.status}</span></td>
                  <td><Time value={t.created_at} /></td>
                  <td><Time value={t.expires_at} /></td>
                  <td><Time value={t.last_used_at} /></td>
                  <td>{t.status === 'active' ? <button type="button" class="btn danger" onClick={() => void revoke(t)}>Revoke</button> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
