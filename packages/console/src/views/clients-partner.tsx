import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { Link } from '../router.js';
import { ErrorBox, Field, Notice, Page, SecretOnce } from '../ui.js';
import { lines } from './clients-form.js';

/**
 * Partner onboarding in one step (POST /partners, docs/b2b.md#onboarding-a-partner):
 * a short form, then the answer, shown once. The secret lives in component
 * state only: a reload or navigation loses it for good.
 */

interface Onboarded {
  client_id: string;
  issuer: string;
  discovery_url: string;
  token_endpoint: string;
  token_endpoint_auth_method: string;
  client_secret?: string;
  key_registration?: { jwks_uri?: string; key_ids: string[]; assertion_audience: string; rotate_with: string };
  scope: string;
  apis: Array<{ resource: string; name: string; scopes: string[] }>;
  ip_allowlist: string[] | null;
}

interface State {
  client_id: string;
  client_name: string;
  scope: string;
  ip_allowlist: string;
  legacy: boolean;
  allowed_users: string;
  auth: 'client_secret_basic' | 'private_key_jwt';
  jwks: string;
  jwks_uri: string;
}

const EMPTY: State = { client_id: '', client_name: '', scope: '', ip_allowlist: '', legacy: false, allowed_users: '', auth: 'client_secret_basic', jwks: '', jwks_uri: '' };

function bodyOf(s: State): Record<string, unknown> {
  const body: Record<string, unknown> = { client_id: s.client_id.trim(), scope: s.scope.trim(), token_endpoint_auth_method: s.auth };
  if (s.client_name.trim()) body.client_name = s.client_name.trim();
  if (lines(s.ip_allowlist).length) body.ip_allowlist = lines(s.ip_allowlist);
  if (s.legacy) {
    body.grant_types = ['password'];
    if (lines(s.allowed_users).length) body.allowed_users = lines(s.allowed_users);
  }
  if (s.auth === 'private_key_jwt') {
    if (s.jwks.trim()) {
      try {
        body.jwks = JSON.parse(s.jwks) as unknown;
      } catch {
        body.jwks = s.jwks; // the API names the problem (jwks: invalid)
      }
    }
    if (s.jwks_uri.trim()) body.jwks_uri = s.jwks_uri.trim();
  }
  return body;
}

function Result(props: { r: Onboarded }): JSX.Element {
  const { r } = props;
  return (
    <Page title="Partner onboarded">
      <Notice kind="success">Client <strong>{r.client_id}</strong> was created. Send the partner what follows.</Notice>
      {r.client_secret ? <SecretOnce label="Client secret" value={r.client_secret} /> : null}
      <dl class="kv" data-partner>
        <dt>Client ID</dt><dd><code>{r.client_id}</code></dd>
        <dt>Issuer</dt><dd><code>{r.issuer}</code></dd>
        <dt>Discovery</dt><dd><code>{r.discovery_url}</code></dd>
        <dt>Token endpoint</dt><dd><code>{r.token_endpoint}</code></dd>
        <dt>Authentication</dt><dd>{r.token_endpoint_auth_method}</dd>
        <dt>APIs</dt>
        <dd>{r.apis.map((a) => <div key={a.resource}><code>{a.resource}</code> ({a.name}): {a.scopes.join(' ')}</div>)}</dd>
        <dt>Allowed addresses</dt><dd>{r.ip_allowlist ? r.ip_allowlist.join(', ') : 'any'}</dd>
        {r.key_registration ? (
          <>
            <dt>Keys</dt>
            <dd>
              {r.key_registration.jwks_uri ? <div>Fetched from <code>{r.key_registration.jwks_uri}</code></div> : null}
              {r.key_registration.key_ids.length ? <div>Key ids: {r.key_registration.key_ids.join(', ')}</div> : null}
              <div>Assertion audience: <code>{r.key_registration.assertion_audience}</code></div>
              <div>{r.key_registration.rotate_with}</div>
            </dd>
          </>
        ) : null}
      </dl>
      <div class="actions">
        <Link href={`/clients/${encodeURIComponent(r.client_id)}`} class="btn primary">Continue to client</Link>
        <Link href="/clients" class="btn">Back to clients</Link>
      </div>
    </Page>
  );
}

export function PartnerOnboard(_props: { params: Record<string, string> }): JSX.Element {
  const [s, setS] = useState<State>(EMPTY);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<Onboarded | null>(null);
  if (done) return <Result r={done} />;
  const set = <K extends keyof State>(k: K, v: State[K]) => setS((prev) => ({ ...prev, [k]: v }));
  const err = error instanceof ApiError ? error : null;

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setDone((await api<Onboarded>('POST', '/partners', { body: bodyOf(s) })).data);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Onboard a partner">
      <form onSubmit={submit} aria-label="Onboard a partner">
        <ErrorBox error={error} />
        <Field label="Client ID" name="client_id" error={err}>
          <input name="client_id" required value={s.client_id} onInput={(e) => set('client_id', e.currentTarget.value)} />
        </Field>
        <Field label="Partner name" name="client_name" error={err}>
          <input name="client_name" value={s.client_name} onInput={(e) => set('client_name', e.currentTarget.value)} />
        </Field>
        <Field label="API scopes" name="scope" error={err} hint="Space-separated, e.g. orders:read">
          <input name="scope" required value={s.scope} onInput={(e) => set('scope', e.currentTarget.value)} />
        </Field>
        <Field label="Allowed addresses" name="ip_allowlist" error={err} hint="CIDR blocks, one per line. Empty: any address.">
          <textarea name="ip_allowlist" rows={3} value={s.ip_allowlist} onInput={(e) => set('ip_allowlist', e.currentTarget.value)} />
        </Field>
        <Field label="Legacy password grant (instead of client credentials)" name="grant_types" error={err}>
          <input type="checkbox" name="legacy" checked={s.legacy} onChange={(e) => set('legacy', e.currentTarget.checked)} />
        </Field>
        {s.legacy ? (
          <Field label="Users it may sign in" name="allowed_users" error={err} hint="Usernames or emails, one per line.">
            <textarea name="allowed_users" rows={2} value={s.allowed_users} onInput={(e) => set('allowed_users', e.currentTarget.value)} />
          </Field>
        ) : null}
        <Field label="Authenticates with" name="token_endpoint_auth_method" error={err}>
          <select name="auth" value={s.auth} onChange={(e) => set('auth', e.currentTarget.value as State['auth'])}>
            <option value="client_secret_basic">A secret (shown once)</option>
            <option value="private_key_jwt">Its own keys (private_key_jwt)</option>
          </select>
        </Field>
        {s.auth === 'private_key_jwt' ? (
          <>
            <Field label="Public keys (JWK Set)" name="jwks" error={err} hint='Paste {"keys": [...]}: public keys only. Or give a URL instead.'>
              <textarea name="jwks" rows={4} spellcheck={false} value={s.jwks} onInput={(e) => set('jwks', e.currentTarget.value)} />
            </Field>
            <Field label="Keys URL (jwks_uri)" name="jwks_uri" error={err}>
              <input name="jwks_uri" value={s.jwks_uri} onInput={(e) => set('jwks_uri', e.currentTarget.value)} />
            </Field>
          </>
        ) : null}
        <div class="actions">
          <button type="submit" class="btn primary" disabled={busy}>Onboard partner</button>
          <Link href="/clients" class="btn">Cancel</Link>
        </div>
      </form>
    </Page>
  );
}
