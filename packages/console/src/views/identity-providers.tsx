import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, takeReplayed } from '../api.js';
import { ErrorBox, Field, Loading, Notice, Page, useLoad } from '../ui.js';
import { useTenants } from './tenants.js';

/**
 * Upstream identity providers (docs/federation.md, admin API
 * /identity-providers): every type is listed with the redirect URI to
 * register at the upstream; an OpenID Connect provider can be added here
 * (the secret is write-only; adding needs a recent multi-factor sign-in,
 * replayed after it); any provider the API manages can be switched on or off
 * and removed. A provider with `client_auth: private_key_jwt` shows the
 * JWKS URL to register beside the redirect URI, and its key can be rotated
 * (staged first for upstreams that pin keys; step-up, replayed). Other types
 * and the finer fields (group mappings, claim mapping, MFA trust) go through
 * the file or the admin API.
 */

type Props = { params: Record<string, string> };
const REPLAY_KEY = 'identity-providers.create';
const ROTATE_KEY = 'identity-providers.rotate';

interface Provider {
  alias: string;
  type: string;
  display_name: string;
  enabled: boolean;
  tenants: string[];
  email_domains: string[];
  jit: string;
  link: string;
  issuer?: string;
  redirect_uri: string;
  client_auth?: string;
  /** private_key_jwt: the public keys of the key Tessera holds, to register at the upstream. */
  client_jwks_uri?: string;
  source: 'file' | 'api';
  secrets_set: string[];
}

interface ClientKeys {
  jwks_uri: string;
  items: { kid: string; status: 'next' | 'active' | 'retiring'; created_at: string; retire_at: string | null }[];
}

const value = (e: Event) => (e.target as HTMLInputElement).value;
const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

export function IdentityProvidersView(_props: Props): JSX.Element {
  const [replay] = useState(() => takeReplayed<Provider>(REPLAY_KEY));
  const [rotateReplay] = useState(() => takeReplayed<ClientKeys>(ROTATE_KEY));
  const [created, setCreated] = useState<Provider | null>(replay && !(replay instanceof ApiError) ? replay.data : null);
  const [rotated, setRotated] = useState<ClientKeys | null>(rotateReplay && !(rotateReplay instanceof ApiError) ? rotateReplay.data : null);
  const [error, setError] = useState<unknown>(replay instanceof ApiError ? replay : rotateReplay instanceof ApiError ? rotateReplay : null);
  const [busy, setBusy] = useState(false);
  const tenants = useTenants();
  const [form, setForm] = useState({
    alias: '', display_name: '', issuer: '', client_id: '', client_auth: 'client_secret_basic', client_secret: '', preset: 'generic', tenant: '', domains: '',
    jit: 'create', link: 'with_proof', trust_email_verified: false,
  });
  const load = useLoad(() => api<{ items: Provider[] }>('GET', '/identity-providers'), []);
  const items = load.data?.data.items;
  const fieldError = error instanceof ApiError ? error : null;

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const body = {
        alias: form.alias, type: 'oidc', display_name: form.display_name, issuer: form.issuer, client_id: form.client_id, client_auth: form.client_auth,
        ...(form.client_secret && form.client_auth !== 'private_key_jwt' ? { client_secret: form.client_secret } : {}), claim_preset: form.preset,
        ...(form.tenant ? { tenants: [form.tenant] } : {}), email_domains: list(form.domains), jit: form.jit, link: form.link,
        trust_email_verified: form.trust_email_verified,
      };
      setCreated((await api<Provider>('POST', '/identity-providers', { body, replayKey: REPLAY_KEY })).data);
      setForm({ ...form, client_secret: '' });
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const setEnabled = async (p: Provider, enabled: boolean) => {
    setError(null);
    try {
      await api('PATCH', `/identity-providers/${encodeURIComponent(p.alias)}`, { body: { enabled } });
      load.reload();
    } catch (err) {
      setError(err);
    }
  };
  const rotate = async (p: Provider, stage: boolean) => {
    const what = stage
      ? `Publish a next key for "${p.display_name}"? It signs nothing until the next rotation; register it at the provider first if the provider pins keys.`
      : `Rotate the key of "${p.display_name}" now? The new key signs at once; the old one stays published for a day. A provider that has not fetched the new key refuses sign-ins until it does.`;
    if (!window.confirm(what)) return;
    setError(null);
    setRotated(null);
    try {
      setRotated((await api<ClientKeys>('POST', `/identity-providers/${encodeURIComponent(p.alias)}/client-keys/rotate`, { body: { stage }, replayKey: ROTATE_KEY })).data);
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (p: Provider) => {
    if (!window.confirm(`Remove the identity provider "${p.display_name}"? Its users keep their accounts and links.`)) return;
    setError(null);
    try {
      await api('DELETE', `/identity-providers/${encodeURIComponent(p.alias)}`);
      load.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Page title="Identity providers">
      <p class="muted">
        Upstream sign-in: people choose the provider on the sign-in page (or are sent there by email domain). Register the redirect URI
        shown below at the provider (and, for private_key_jwt, the JWKS URL). Secrets and private keys are write-only. Adding a provider,
        setting a secret, changing the client authentication or rotating a key needs a recent multi-factor sign-in.
      </p>
      {created ? (
        <Notice kind="success">
          Added <strong>{created.display_name}</strong>. Register this redirect URI at the provider: <code>{created.redirect_uri}</code>
          {created.client_jwks_uri ? <> and this JWKS URL for its private_key_jwt client authentication: <code>{created.client_jwks_uri}</code></> : null}
        </Notice>
      ) : null}
      {rotated ? (
        <Notice kind="success">
          Keys published at <code>{rotated.jwks_uri}</code>: {rotated.items.map((k) => `${k.kid.slice(0, 8)}… ${k.status}`).join(', ')}.
        </Notice>
      ) : null}
      <ErrorBox error={error} />
      <ErrorBox error={load.error} />
      {load.loading && !items ? <Loading /> : null}
      {items ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Provider</th><th>Type</th><th>Tenants</th><th>Redirect URI to register</th><th>State</th><th /></tr></thead>
            <tbody>
              {items.length === 0 ? <tr><td colSpan={6} class="muted">No identity providers yet.</td></tr> : null}
              {items.map((p) => (
                <tr key={p.alias}>
                  <td>{p.display_name} <code>{p.alias}</code></td>
                  <td>{p.type}</td>
                  <td>{p.tenants.join(', ')}</td>
                  <td>
                    <code>{p.redirect_uri}</code>
                    {p.client_jwks_uri ? <><br /><span class="muted">JWKS URL (private_key_jwt):</span> <code>{p.client_jwks_uri}</code></> : null}
                  </td>
                  <td><span class={p.enabled ? 'badge ok' : 'badge'}>{p.enabled ? 'enabled' : 'disabled'}</span></td>
                  <td>
                    {p.client_jwks_uri ? (
                      <>
                        <button type="button" class="btn" onClick={() => void rotate(p, true)}>Stage next key</button>{' '}
                        <button type="button" class="btn" onClick={() => void rotate(p, false)}>Rotate key</button>{' '}
                      </>
                    ) : null}
                    {p.source === 'file' ? <span class="muted">from the configuration file</span> : (
                      <>
                        <button type="button" class="btn" onClick={() => void setEnabled(p, !p.enabled)}>{p.enabled ? 'Disable' : 'Enable'}</button>{' '}
                        <button type="button" class="btn danger" onClick={() => void remove(p)}>Remove</button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2>Add an OpenID Connect provider</h2>
      <form class="form" onSubmit={create}>
        <Field label="Alias" name="alias" error={fieldError} hint="Lower-case letters, digits, _ and -: part of the redirect URI.">
          <input name="alias" required value={form.alias} onInput={(e) => setForm({ ...form, alias: value(e) })} />
        </Field>
        <Field label="Display name" name="display_name" error={fieldError} hint="The button on the sign-in page: Sign in with …">
          <input name="display_name" required value={form.display_name} onInput={(e) => setForm({ ...form, display_name: value(e) })} />
        </Field>
        <Field label="Issuer" name="issuer" error={fieldError} hint="Its discovery document is read from <issuer>/.well-known/openid-configuration.">
          <input name="issuer" type="url" required value={form.issuer} onInput={(e) => setForm({ ...form, issuer: value(e) })} />
        </Field>
        <Field label="Client ID" name="client_id" error={fieldError}>
          <input name="client_id" required value={form.client_id} onInput={(e) => setForm({ ...form, client_id: value(e) })} />
        </Field>
        <Field label="Client authentication" name="client_auth" error={fieldError}
          hint="private_key_jwt: Tessera generates and keeps the key; register the JWKS URL shown after adding at the provider.">
          <select name="client_auth" value={form.client_auth} onChange={(e) => setForm({ ...form, client_auth: value(e) })}>
            <option value="client_secret_basic">Secret, HTTP Basic (client_secret_basic)</option>
            <option value="client_secret_post">Secret in the request body (client_secret_post)</option>
            <option value="private_key_jwt">A key Tessera holds (private_key_jwt)</option>
          </select>
        </Field>
        {form.client_auth === 'private_key_jwt' ? null : (
          <Field label="Client secret" name="client_secret" error={fieldError} hint="Stored encrypted; never shown again.">
            <input name="client_secret" type="password" autoComplete="off" value={form.client_secret} onInput={(e) => setForm({ ...form, client_secret: value(e) })} />
          </Field>
        )}
        <Field label="Claim preset" name="claim_preset" error={fieldError}>
          <select name="claim_preset" value={form.preset} onChange={(e) => setForm({ ...form, preset: value(e) })}>
            {['generic', 'google', 'entra', 'keycloak', 'okta'].map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        </Field>
        <Field label="Tenant" name="tenants" error={fieldError}>
          <select name="tenants" value={form.tenant} onChange={(e) => setForm({ ...form, tenant: value(e) })}>
            <option value="">default</option>
            {tenants.filter((t) => t.id !== 'default').map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
          </select>
        </Field>
        <Field label="Email domains" name="email_domains" error={fieldError} hint="Optional: people with these addresses are sent to this provider (comma-separated).">
          <input name="email_domains" value={form.domains} onInput={(e) => setForm({ ...form, domains: value(e) })} />
        </Field>
        <Field label="New people" name="jit" error={fieldError}>
          <select name="jit" value={form.jit} onChange={(e) => setForm({ ...form, jit: value(e) })}>
            <option value="create">Create an account at the first sign-in</option>
            <option value="approve">Create it after an administrator approves</option>
            <option value="off">Only people who already have an account</option>
          </select>
        </Field>
        <Field label="Existing accounts with the same email" name="link" error={fieldError}>
          <select name="link" value={form.link} onChange={(e) => setForm({ ...form, link: value(e) })}>
            <option value="with_proof">Link after the person signs in to the account</option>
            <option value="admin_approval">Link after an administrator approves</option>
            <option value="never">Never link</option>
          </select>
        </Field>
        <label class="check">
          <input type="checkbox" name="trust_email_verified" checked={form.trust_email_verified}
            onChange={(e) => setForm({ ...form, trust_email_verified: (e.target as HTMLInputElement).checked })} /> Trust the provider's email_verified claim
        </label>
        <div class="actions"><button type="submit" class="btn primary" disabled={busy}>Add provider</button></div>
      </form>
    </Page>
  );
}
