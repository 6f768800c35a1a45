import type { JSX } from 'preact';
import type { ApiError } from '../api.js';
import { Field } from '../ui.js';

/**
 * The client form's protocol settings (issue 21; docs/protocol.md): refresh
 * token rotation and lifetimes, signing algorithms, what the consent page
 * shows (logo, policy, terms), sign-in age (default_max_age,
 * require_auth_time). Kept apart from clients-form.tsx, which wires
 * it in: its state, how it maps to the admin API's fields, and its controls.
 */

export type RefreshRotation = 'always' | 'never';
export type SigningAlg = 'RS256' | 'ES256';

/** The admin API's fields this part of the form edits (GET /clients/{id}). */
export interface ProtocolView {
  refresh_token_rotation?: RefreshRotation;
  refresh_token_idle_ttl?: number;
  refresh_token_grace_period?: number;
  id_token_signed_response_alg?: SigningAlg;
  userinfo_signed_response_alg?: SigningAlg;
  logo_uri?: string;
  policy_uri?: string;
  tos_uri?: string;
  default_max_age?: number;
  require_auth_time?: boolean;
  require_pushed_authorization_requests?: boolean;
  dpop_bound_access_tokens?: boolean;
}

/** Text as typed; parsed only when sent. */
export interface ProtocolFormState {
  refresh_token_rotation: '' | RefreshRotation;
  refresh_token_idle_ttl: string;
  refresh_token_grace_period: string;
  id_token_signed_response_alg: '' | SigningAlg;
  userinfo_signed_response_alg: '' | SigningAlg;
  logo_uri: string;
  policy_uri: string;
  tos_uri: string;
  default_max_age: string;
  require_auth_time: boolean;
  require_pushed_authorization_requests: boolean;
  dpop_bound_access_tokens: boolean;
}

export const PROTOCOL_FORM_FIELDS = [
  'refresh_token_rotation', 'refresh_token_idle_ttl', 'refresh_token_grace_period', 'id_token_signed_response_alg',
  'userinfo_signed_response_alg', 'logo_uri', 'policy_uri', 'tos_uri', 'default_max_age', 'require_auth_time',
  'require_pushed_authorization_requests', 'dpop_bound_access_tokens',
] as const;

export function emptyProtocol(): ProtocolFormState {
  return {
    refresh_token_rotation: '', refresh_token_idle_ttl: '', refresh_token_grace_period: '', id_token_signed_response_alg: '',
    userinfo_signed_response_alg: '', logo_uri: '', policy_uri: '', tos_uri: '', default_max_age: '', require_auth_time: false,
    require_pushed_authorization_requests: false, dpop_bound_access_tokens: false,
  };
}

export function protocolFormOf(c: ProtocolView): ProtocolFormState {
  const num = (v: number | undefined) => (v === undefined ? '' : String(v));
  return {
    refresh_token_rotation: c.refresh_token_rotation ?? '',
    refresh_token_idle_ttl: num(c.refresh_token_idle_ttl),
    refresh_token_grace_period: num(c.refresh_token_grace_period),
    id_token_signed_response_alg: c.id_token_signed_response_alg ?? '',
    userinfo_signed_response_alg: c.userinfo_signed_response_alg ?? '',
    logo_uri: c.logo_uri ?? '',
    policy_uri: c.policy_uri ?? '',
    tos_uri: c.tos_uri ?? '',
    default_max_age: num(c.default_max_age),
    require_auth_time: c.require_auth_time === true,
    require_pushed_authorization_requests: c.require_pushed_authorization_requests === true,
    dpop_bound_access_tokens: c.dpop_bound_access_tokens === true,
  };
}

/** A whole number as a number; anything else as typed, so the API names the problem. */
function whole(text: string): number | string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return /^\d+$/.test(t) ? Number(t) : t;
}

/** The fields to send (only what is set; the API fills defaults). */
export function protocolBody(p: ProtocolFormState): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (p.refresh_token_rotation) body.refresh_token_rotation = p.refresh_token_rotation;
  for (const k of ['refresh_token_idle_ttl', 'refresh_token_grace_period', 'default_max_age'] as const) {
    const v = whole(p[k]);
    if (v !== undefined) body[k] = v;
  }
  for (const k of ['id_token_signed_response_alg', 'userinfo_signed_response_alg'] as const) if (p[k]) body[k] = p[k];
  for (const k of ['logo_uri', 'policy_uri', 'tos_uri'] as const) if (p[k].trim()) body[k] = p[k].trim();
  if (p.require_auth_time) body.require_auth_time = true;
  if (p.require_pushed_authorization_requests) body.require_pushed_authorization_requests = true;
  if (p.dpop_bound_access_tokens) body.dpop_bound_access_tokens = true;
  return body;
}

interface Props {
  state: ProtocolFormState;
  onChange(next: ProtocolFormState): void;
  error: ApiError | null;
  confidential: boolean;
}

export function ProtocolFields(props: Props): JSX.Element {
  const s = props.state;
  const set = <K extends keyof ProtocolFormState>(k: K, v: ProtocolFormState[K]) => props.onChange({ ...s, [k]: v });
  const err = props.error;
  return (
    <fieldset class="group">
      <legend>Tokens and sign-in (protocol settings)</legend>
      <Field label="Rotation" name="refresh_token_rotation" error={err}
        hint="Always: every refresh returns a new refresh token, and reusing an old one revokes them all. Never: only for confidential clients that cannot store a new token.">
        <select name="refresh_token_rotation" value={s.refresh_token_rotation}
          onChange={(e) => set('refresh_token_rotation', e.currentTarget.value as ProtocolFormState['refresh_token_rotation'])}>
          <option value="">Always (default)</option>
          <option value="always">Always</option>
          {props.confidential || s.refresh_token_rotation === 'never' ? <option value="never">Never</option> : null}
        </select>
      </Field>
      <div class="grid2">
        <Field label="Idle lifetime (seconds)" name="refresh_token_idle_ttl" error={err}
          hint="Refresh tokens unused for this long expire. Empty: only the refresh token lifetime (absolute) applies.">
          <input name="refresh_token_idle_ttl" inputMode="numeric" value={s.refresh_token_idle_ttl}
            onInput={(e) => set('refresh_token_idle_ttl', e.currentTarget.value)} />
        </Field>
        <Field label="Grace period for concurrent refreshes (seconds)" name="refresh_token_grace_period" error={err}
          hint="0–60. The same old token presented again this soon returns the same new one instead of revoking. Empty: 10.">
          <input name="refresh_token_grace_period" inputMode="numeric" value={s.refresh_token_grace_period}
            onInput={(e) => set('refresh_token_grace_period', e.currentTarget.value)} />
        </Field>
      </div>
      <div class="grid2">
        <Field label="ID token signing algorithm" name="id_token_signed_response_alg" error={err}>
          <select name="id_token_signed_response_alg" value={s.id_token_signed_response_alg}
            onChange={(e) => set('id_token_signed_response_alg', e.currentTarget.value as ProtocolFormState['id_token_signed_response_alg'])}>
            <option value="">RS256 (default)</option>
            <option value="RS256">RS256</option>
            <option value="ES256">ES256</option>
          </select>
        </Field>
        <Field label="UserInfo response" name="userinfo_signed_response_alg" error={err} hint="Signed: the UserInfo answer is a JWT (application/jwt).">
          <select name="userinfo_signed_response_alg" value={s.userinfo_signed_response_alg}
            onChange={(e) => set('userinfo_signed_response_alg', e.currentTarget.value as ProtocolFormState['userinfo_signed_response_alg'])}>
            <option value="">Plain JSON (default)</option>
            <option value="RS256">Signed, RS256</option>
            <option value="ES256">Signed, ES256</option>
          </select>
        </Field>
      </div>
      <Field label="Logo URL" name="logo_uri" error={err} hint="Shown on the consent page.">
        <input name="logo_uri" value={s.logo_uri} spellcheck={false} onInput={(e) => set('logo_uri', e.currentTarget.value)} />
      </Field>
      <div class="grid2">
        <Field label="Privacy policy URL" name="policy_uri" error={err} hint="Linked from the consent page.">
          <input name="policy_uri" value={s.policy_uri} spellcheck={false} onInput={(e) => set('policy_uri', e.currentTarget.value)} />
        </Field>
        <Field label="Terms of service URL" name="tos_uri" error={err} hint="Linked from the consent page.">
          <input name="tos_uri" value={s.tos_uri} spellcheck={false} onInput={(e) => set('tos_uri', e.currentTarget.value)} />
        </Field>
      </div>
      <Field label="Maximum sign-in age (seconds)" name="default_max_age" error={err}
        hint="default_max_age: an older sign-in is asked for the password again, as if every request sent max_age. Empty: no limit.">
        <input name="default_max_age" inputMode="numeric" value={s.default_max_age} onInput={(e) => set('default_max_age', e.currentTarget.value)} />
      </Field>
      <label class="check">
        <input type="checkbox" name="require_auth_time" checked={s.require_auth_time} onChange={(e) => set('require_auth_time', e.currentTarget.checked)} />
        Every ID token says when the user signed in (require_auth_time)
      </label>
      <label class="check">
        <input type="checkbox" name="require_pushed_authorization_requests" checked={s.require_pushed_authorization_requests}
          onChange={(e) => set('require_pushed_authorization_requests', e.currentTarget.checked)} />
        Authorization requests must be pushed first (PAR, require_pushed_authorization_requests)
      </label>
      <label class="check">
        <input type="checkbox" name="dpop_bound_access_tokens" checked={s.dpop_bound_access_tokens}
          onChange={(e) => set('dpop_bound_access_tokens', e.currentTarget.checked)} />
        Tokens are always bound to the client's key (DPoP, dpop_bound_access_tokens)
      </label>
    </fieldset>
  );
}
