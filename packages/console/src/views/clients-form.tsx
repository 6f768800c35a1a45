import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { Field, fieldMessage, Notice } from '../ui.js';
import { emptyProtocol, PROTOCOL_FORM_FIELDS, protocolBody, ProtocolFields, protocolFormOf } from './clients-protocol.js';
import type { ProtocolFormState, ProtocolView } from './clients-protocol.js';
import { EXCHANGE_GRANT, exchangeBody, exchangeFormOf, OptInGrants } from './clients-grants.js';
import type { ExchangeFormState, ExchangePolicy } from './clients-grants.js';

/**
 * The client form shared by "create" and "edit", and the mapping between
 * its text fields and the admin API's client body (packages/server/src/admin/clients/schemas.ts,
 * the configuration file's client fields).
 */

export type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
export type MfaMode = 'off' | 'optional' | 'required';

/** GET /clients/{id}: the metadata, `has_secret`, and during a rotation's overlap `previous_secret_expires_at`. */
export interface ClientView extends ProtocolView {
  client_id: string;
  client_name?: string;
  tenant: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  response_types?: string[];
  token_endpoint_auth_method: AuthMethod;
  scope?: string;
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  first_party: boolean;
  access_token_ttl?: number;
  id_token_ttl?: number;
  refresh_token_ttl?: number;
  mfa?: MfaMode;
  ip_allowlist?: string[];
  admin_scopes?: string[];
  /** private_key_jwt: the client's public keys, inline or where it publishes them. */
  jwks?: { keys: Record<string, unknown>[] };
  jwks_uri?: string;
  /** App assignment: who may use the client. */
  allowed_users?: string[];
  allowed_roles?: string[];
  /** Token exchange (RFC 8693): with its grant only. */
  token_exchange?: ExchangePolicy;
  has_secret: boolean;
  previous_secret_expires_at: string | null;
  created_at: string | null;
  updated_at: string | null;
}

/** POST /clients answers with the secret of a confidential client, in that answer only. */
export type CreatedClient = ClientView & { client_secret?: string };

/** Clients Tessera registers at every start (account pages, this console): changing, deleting or rotating them is refused (409). */
export const BUILT_IN_CLIENTS = new Set(['tessera-account', 'tessera-console']);

export const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const LEGACY_GRANT = 'password';
export const ADMIN_SCOPES = ['identity.admin', 'auth.admin'] as const;

/** The form's state: text as typed (lists one per line), parsed only when sent. */
export interface ClientFormState {
  client_id: string;
  client_name: string;
  tenant: string;
  auth: AuthMethod;
  redirect_uris: string;
  post_logout_redirect_uris: string;
  grant_types: string[];
  first_party: boolean;
  mfa: '' | MfaMode;
  access_token_ttl: string;
  id_token_ttl: string;
  refresh_token_ttl: string;
  admin_scopes: string[];
  scope: string;
  backchannel_logout_uri: string;
  ip_allowlist: string;
  /** private_key_jwt: a JWK Set as JSON text, or the URL where the client publishes it. */
  jwks: string;
  jwks_uri: string;
  /** App assignment, one per line. */
  allowed_users: string;
  allowed_roles: string;
  /** Refresh rotation and lifetimes, and the other protocol settings (clients-protocol.tsx). */
  protocol: ProtocolFormState;
  /** The token exchange policy, sent with that grant only (clients-grants.tsx). */
  token_exchange: ExchangeFormState;
}

export function emptyForm(): ClientFormState {
  return {
    client_id: '', client_name: '', tenant: '', auth: 'client_secret_basic', redirect_uris: '', post_logout_redirect_uris: '',
    grant_types: ['authorization_code'], first_party: false, mfa: '', access_token_ttl: '', id_token_ttl: '', refresh_token_ttl: '',
    admin_scopes: [], scope: '', backchannel_logout_uri: '', ip_allowlist: '', jwks: '', jwks_uri: '', allowed_users: '', allowed_roles: '',
    protocol: emptyProtocol(), token_exchange: exchangeFormOf(undefined),
  };
}

export function formOf(c: ClientView): ClientFormState {
  const num = (v: number | undefined) => (v === undefined ? '' : String(v));
  return {
    client_id: c.client_id, client_name: c.client_name ?? '', tenant: c.tenant, auth: c.token_endpoint_auth_method ?? 'client_secret_basic',
    redirect_uris: (c.redirect_uris ?? []).join('\n'), post_logout_redirect_uris: (c.post_logout_redirect_uris ?? []).join('\n'),
    grant_types: [...(c.grant_types ?? [])], first_party: c.first_party, mfa: c.mfa ?? '',
    access_token_ttl: num(c.access_token_ttl), id_token_ttl: num(c.id_token_ttl), refresh_token_ttl: num(c.refresh_token_ttl),
    admin_scopes: [...(c.admin_scopes ?? [])], scope: c.scope ?? '', backchannel_logout_uri: c.backchannel_logout_uri ?? '',
    ip_allowlist: (c.ip_allowlist ?? []).join('\n'),
    jwks: c.jwks ? JSON.stringify(c.jwks, null, 2) : '', jwks_uri: c.jwks_uri ?? '',
    allowed_users: (c.allowed_users ?? []).join('\n'), allowed_roles: (c.allowed_roles ?? []).join('\n'),
    protocol: protocolFormOf(c), token_exchange: exchangeFormOf(c.token_exchange),
  };
}

/** One entry per non-empty line (the API reports `redirect_uris.<index>` of this list). */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** A number field as the API wants it: whole seconds, or the text itself so the API names the problem. */
function seconds(text: string): number | string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return /^\d+$/.test(t) ? Number(t) : t;
}

/** Pasted JSON as the API wants it, or the text itself so the API names the problem (`jwks: invalid`). */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** POST /clients body: only what is set (the API fills defaults). */
export function createBody(s: ClientFormState): Record<string, unknown> {
  const body: Record<string, unknown> = {
    client_id: s.client_id.trim(),
    token_endpoint_auth_method: s.auth,
    redirect_uris: lines(s.redirect_uris),
    post_logout_redirect_uris: lines(s.post_logout_redirect_uris),
    grant_types: s.grant_types,
    first_party: s.first_party,
  };
  if (s.client_name.trim()) body.client_name = s.client_name.trim();
  if (s.tenant) body.tenant = s.tenant;
  if (s.mfa) body.mfa = s.mfa;
  for (const k of ['access_token_ttl', 'id_token_ttl', 'refresh_token_ttl'] as const) {
    const v = seconds(s[k]);
    if (v !== undefined) body[k] = v;
  }
  if (s.admin_scopes.length) body.admin_scopes = s.admin_scopes;
  if (s.scope.trim()) body.scope = s.scope.trim();
  if (s.backchannel_logout_uri.trim()) body.backchannel_logout_uri = s.backchannel_logout_uri.trim();
  if (lines(s.ip_allowlist).length) body.ip_allowlist = lines(s.ip_allowlist);
  if (lines(s.allowed_users).length) body.allowed_users = lines(s.allowed_users);
  if (lines(s.allowed_roles).length) body.allowed_roles = lines(s.allowed_roles);
  if (s.auth === 'private_key_jwt') {
    if (s.jwks.trim()) body.jwks = jsonOrText(s.jwks);
    if (s.jwks_uri.trim()) body.jwks_uri = s.jwks_uri.trim();
  }
  Object.assign(body, protocolBody(s.protocol), exchangeBody(s.grant_types, s.token_exchange));
  return body;
}

/**
 * PATCH body: only the fields that differ from the loaded client (absent
 * stays, null clears), so a name change does not also "change" the redirect
 * URIs and ask for step-up.
 */
export function patchBody(s: ClientFormState, original: ClientView): Record<string, unknown> {
  const next = createBody(s);
  const before = createBody(formOf(original));
  const patch: Record<string, unknown> = {};
  const keys = new Set([...Object.keys(next), ...Object.keys(before)]);
  keys.delete('client_id');
  for (const k of keys) {
    if (JSON.stringify(next[k]) === JSON.stringify(before[k])) continue;
    patch[k] = next[k] === undefined ? null : next[k];
  }
  return patch;
}

/**
 * The API reports list entries by index (`redirect_uris.0`); the form shows
 * lists as one text area, so those become one message on the list's field,
 * naming the line. Returns an ApiError whose `fields` are keyed by form field.
 */
export function formError(err: unknown, item = 'Line'): ApiError | null {
  if (!(err instanceof ApiError)) return null;
  if (!err.fields) return err;
  const grouped: Record<string, string[]> = {};
  for (const [path, code] of Object.entries(err.fields)) {
    const [name, index] = path.split('.');
    const text = index !== undefined && /^\d+$/.test(index) ? `${item} ${Number(index) + 1}: ${fieldMessage(code)}` : code;
    (grouped[name!] ??= []).push(text);
  }
  const fields: Record<string, string> = {};
  // A single plain code stays a code (Field turns it into text); combined or per-line ones are already text.
  for (const [name, texts] of Object.entries(grouped)) fields[name] = texts.length === 1 ? texts[0]! : texts.map((t) => fieldMessage(t)).join(' ');
  return new ApiError(err.status, err.code, err.description, fields);
}

/** Field names the form shows; any other field error is listed by the ErrorBox only. */
export const FORM_FIELDS = new Set(['client_id', 'client_name', 'tenant', 'token_endpoint_auth_method', 'redirect_uris', 'post_logout_redirect_uris',
  'grant_types', 'first_party', 'mfa', 'access_token_ttl', 'id_token_ttl', 'refresh_token_ttl', 'admin_scopes', 'scope', 'backchannel_logout_uri', 'ip_allowlist',
  'jwks', 'jwks_uri', 'allowed_users', 'allowed_roles', 'token_exchange']);
for (const f of PROTOCOL_FORM_FIELDS) FORM_FIELDS.add(f);

export interface TenantOption {
  id: string;
  name: string;
}

interface FormProps {
  mode: 'create' | 'edit';
  initial: ClientFormState;
  error: unknown;
  busy: boolean;
  /** Tenants the caller may put the client in (platform administrators: every tenant); one or none: no choice shown. */
  tenants?: TenantOption[];
  readOnly?: boolean;
  submitLabel: string;
  onSubmit(state: ClientFormState): void;
  extraActions?: ComponentChildren;
  /** Outcome of the last submit (saved notice, error summary), shown beside the submit button where the person is looking. */
  status?: ComponentChildren;
}

/** The client form; every control is a labelled field with its API error next to it. */
export function ClientForm(props: FormProps): JSX.Element {
  const [s, setS] = useState<ClientFormState>(props.initial);
  const set = <K extends keyof ClientFormState>(k: K, v: ClientFormState[K]) => setS((prev) => ({ ...prev, [k]: v }));
  const toggle = (k: 'grant_types' | 'admin_scopes', v: string, on: boolean) =>
    setS((prev) => ({ ...prev, [k]: on ? [...prev[k].filter((x) => x !== v), v] : prev[k].filter((x) => x !== v) }));
  const err = formError(props.error);
  const ro = props.readOnly === true;
  const formRef = useRef<HTMLFormElement>(null);
  // After a refused submit, the first field with an error gets the focus (and scrolls into view).
  useEffect(() => {
    if (!props.error) return;
    const first = formRef.current?.querySelector<HTMLElement>('.field.invalid input, .field.invalid textarea, .field.invalid select, .field-error');
    if (first) {
      first.scrollIntoView({ block: 'center' });
      if (first.matches('input, textarea, select')) first.focus();
    }
  }, [props.error]);
  const confidential = s.auth !== 'none';
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (!ro) props.onSubmit(s);
  };
  const showTenants = props.tenants && props.tenants.length > 1;

  return (
    <form class="form" ref={formRef} onSubmit={onSubmit} noValidate>
      <fieldset disabled={ro || props.busy}>
        <div class="grid2">
          <Field label="Client ID" name="client_id" error={err} hint={props.mode === 'create' ? 'Letters, digits, ".", "_", ":" or "-"; cannot be changed later.' : 'Cannot be changed.'}>
            <input name="client_id" value={s.client_id} required readOnly={props.mode === 'edit'} autoComplete="off" spellcheck={false}
              onInput={(e) => set('client_id', e.currentTarget.value)} />
          </Field>
          <Field label="Name" name="client_name" error={err} hint="Shown to people on the consent page.">
            <input name="client_name" value={s.client_name} autoComplete="off" onInput={(e) => set('client_name', e.currentTarget.value)} />
          </Field>
        </div>

        {showTenants ? (
          <Field label="Tenant" name="tenant" error={err} hint={props.mode === 'create' ? 'Default: your own tenant.' : 'Moving a client to another tenant needs a recent multi-factor sign-in.'}>
            <select name="tenant" value={s.tenant} onChange={(e) => set('tenant', e.currentTarget.value)}>
              {props.mode === 'create' ? <option value="">Your tenant</option> : null}
              {props.tenants!.map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
            </select>
          </Field>
        ) : null}

        <fieldset class="group">
          <legend>Client type</legend>
          <label class="check">
            <input type="radio" name="client_type" value="confidential" checked={confidential} disabled={props.mode === 'edit'}
              onChange={() => set('auth', 'client_secret_basic')} />
            Confidential (a server that keeps a secret)
          </label>
          <label class="check">
            <input type="radio" name="client_type" value="public" checked={!confidential} disabled={props.mode === 'edit'}
              onChange={() => setS((prev) => ({ ...prev, auth: 'none', grant_types: prev.grant_types.filter((g) => g !== 'client_credentials' && g !== LEGACY_GRANT && g !== EXCHANGE_GRANT) }))} />
            Public (a browser or mobile app, no secret)
          </label>
          {props.mode === 'edit' ? <p class="muted">A client cannot switch between public and confidential: create a new one.</p> : null}
          {err?.fields?.token_endpoint_auth_method ? <p class="field-error" role="alert">{err.fields.token_endpoint_auth_method}</p> : null}
        </fieldset>

        {confidential ? (
          <Field label="Authenticates with" name="token_endpoint_auth_method" error={null}
            hint={s.auth === 'private_key_jwt' ? 'The client signs a short assertion with its private key; Tessera holds only the public keys. No secret is generated.' : undefined}>
            <select name="token_endpoint_auth_method" value={s.auth} onChange={(e) => set('auth', e.currentTarget.value as AuthMethod)}>
              <option value="client_secret_basic">Secret, HTTP Basic (client_secret_basic)</option>
              <option value="client_secret_post">Secret, form field (client_secret_post)</option>
              <option value="private_key_jwt">Its own keys (private_key_jwt)</option>
            </select>
          </Field>
        ) : null}
        {s.auth === 'private_key_jwt' ? (
          <div class="grid2">
            <Field label="Public keys (JWK Set)" name="jwks" error={err} hint='Paste {"keys": [...]}: public keys only. Or give a URL instead.'>
              <textarea name="jwks" rows={4} value={s.jwks} spellcheck={false} onInput={(e) => set('jwks', e.currentTarget.value)} />
            </Field>
            <Field label="Key set URL (jwks_uri)" name="jwks_uri" error={err} hint="https:// URL where the client publishes its public keys; fetched and cached.">
              <input name="jwks_uri" value={s.jwks_uri} spellcheck={false} onInput={(e) => set('jwks_uri', e.currentTarget.value)} />
            </Field>
          </div>
        ) : null}

        <Field label="Redirect URIs" name="redirect_uris" error={err} hint="One per line. Needed for the authorization_code grant.">
          <textarea name="redirect_uris" rows={3} value={s.redirect_uris} spellcheck={false} onInput={(e) => set('redirect_uris', e.currentTarget.value)} />
        </Field>
        <Field label="Post-logout redirect URIs" name="post_logout_redirect_uris" error={err} hint="One per line.">
          <textarea name="post_logout_redirect_uris" rows={2} value={s.post_logout_redirect_uris} spellcheck={false}
            onInput={(e) => set('post_logout_redirect_uris', e.currentTarget.value)} />
        </Field>

        <fieldset class="group">
          <legend>Grant types</legend>
          {GRANTS.map((g) => (
            <label class="check" key={g}>
              <input type="checkbox" name="grant_types" value={g} checked={s.grant_types.includes(g)}
                disabled={g === 'client_credentials' && !confidential}
                onChange={(e) => toggle('grant_types', g, e.currentTarget.checked)} />
              {g}
            </label>
          ))}
          {confidential || s.grant_types.includes(LEGACY_GRANT) ? (
            <label class="check">
              <input type="checkbox" name="grant_types" value={LEGACY_GRANT} checked={s.grant_types.includes(LEGACY_GRANT)}
                onChange={(e) => toggle('grant_types', LEGACY_GRANT, e.currentTarget.checked)} />
              password <span class="badge warn">legacy</span>
            </label>
          ) : null}
          {s.grant_types.includes(LEGACY_GRANT) ? (
            <Notice kind="warning">
              The password grant (RFC 6749 §4.3) hands the user's password to the application and skips MFA, consent and
              the hosted sign-in pages. Use it only to migrate an old application; prefer authorization_code.
            </Notice>
          ) : null}
          <OptInGrants grants={s.grant_types} toggle={(g, on) => toggle('grant_types', g, on)} policy={s.token_exchange}
            onPolicy={(p) => set('token_exchange', p)} confidential={confidential} error={err} />
          {err?.fields?.grant_types ? <p class="field-error" role="alert">{err.fields.grant_types}</p> : null}
        </fieldset>

        <fieldset class="group">
          <legend>Consent and sign-in</legend>
          <label class="check">
            <input type="checkbox" name="first_party" checked={s.first_party} onChange={(e) => set('first_party', e.currentTarget.checked)} />
            First party: your own application, people are not asked for consent
          </label>
          {err?.fields?.first_party ? <p class="field-error" role="alert">{err.fields.first_party}</p> : null}
          <Field label="MFA policy" name="mfa" error={err} hint="Unset: the tenant's policy decides. A client cannot lower what the tenant requires.">
            <select name="mfa" value={s.mfa} onChange={(e) => set('mfa', e.currentTarget.value as ClientFormState['mfa'])}>
              <option value="">Tenant policy</option>
              <option value="off">Off</option>
              <option value="optional">Optional (people who enrolled a factor)</option>
              <option value="required">Required</option>
            </select>
          </Field>
        </fieldset>

        <fieldset class="group">
          <legend>Token lifetimes (seconds; empty: the platform's default)</legend>
          <div class="grid2">
            <Field label="Access token lifetime" name="access_token_ttl" error={err}>
              <input name="access_token_ttl" inputMode="numeric" value={s.access_token_ttl} onInput={(e) => set('access_token_ttl', e.currentTarget.value)} />
            </Field>
            <Field label="ID token lifetime" name="id_token_ttl" error={err}>
              <input name="id_token_ttl" inputMode="numeric" value={s.id_token_ttl} onInput={(e) => set('id_token_ttl', e.currentTarget.value)} />
            </Field>
            <Field label="Refresh token lifetime" name="refresh_token_ttl" error={err}>
              <input name="refresh_token_ttl" inputMode="numeric" value={s.refresh_token_ttl} onInput={(e) => set('refresh_token_ttl', e.currentTarget.value)} />
            </Field>
          </div>
        </fieldset>

        <ProtocolFields state={s.protocol} onChange={(p) => set('protocol', p)} error={err} confidential={confidential} />

        <details class="card">
          <summary>Advanced: scopes, allowed users and roles, back-channel logout, IP allow-list, admin API access</summary>
          <Field label="Allowed scopes" name="scope" error={err} hint="Space-separated OpenID and API scopes the client may obtain, e.g. openid orders:read. Empty: any OpenID scope and no API scope.">
            <input name="scope" value={s.scope} spellcheck={false} onInput={(e) => set('scope', e.currentTarget.value)} />
          </Field>
          <div class="grid2">
            <Field label="Allowed users" name="allowed_users" error={err} hint="Usernames, emails or user ids, one per line. Empty (and no roles): every user of the tenant.">
              <textarea name="allowed_users" rows={2} value={s.allowed_users} spellcheck={false} onInput={(e) => set('allowed_users', e.currentTarget.value)} />
            </Field>
            <Field label="Allowed roles" name="allowed_roles" error={err} hint="Role names, one per line: their members may use the client.">
              <textarea name="allowed_roles" rows={2} value={s.allowed_roles} spellcheck={false} onInput={(e) => set('allowed_roles', e.currentTarget.value)} />
            </Field>
          </div>
          <Field label="Back-channel logout URI" name="backchannel_logout_uri" error={err}>
            <input name="backchannel_logout_uri" value={s.backchannel_logout_uri} spellcheck={false} onInput={(e) => set('backchannel_logout_uri', e.currentTarget.value)} />
          </Field>
          <Field label="IP allow-list" name="ip_allowlist" error={err} hint="CIDR blocks, one per line, for the token endpoint. Empty: any address.">
            <textarea name="ip_allowlist" rows={2} value={s.ip_allowlist} spellcheck={false} onInput={(e) => set('ip_allowlist', e.currentTarget.value)} />
          </Field>
          <fieldset class="group">
            <legend>Admin API scopes (machine callers, client_credentials)</legend>
            {ADMIN_SCOPES.map((a) => (
              <label class="check" key={a}>
                <input type="checkbox" name="admin_scopes" value={a} checked={s.admin_scopes.includes(a)} disabled={!confidential}
                  onChange={(e) => toggle('admin_scopes', a, e.currentTarget.checked)} />
                {a}
              </label>
            ))}
            {err?.fields?.admin_scopes ? <p class="field-error" role="alert">{err.fields.admin_scopes}</p> : null}
          </fieldset>
        </details>
        <p class="muted">
          Creating a first-party client or one with admin API scopes, and changing redirect URIs, grants, consent, tenant,
          MFA, scopes or the IP allow-list, needs a recent multi-factor sign-in: you may be asked for your second factor.
        </p>
      </fieldset>
      {props.status}
      <div class="actions">
        {ro ? null : <button type="submit" class="btn primary" disabled={props.busy}>{props.submitLabel}</button>}
        {props.extraActions}
      </div>
    </form>
  );
}
