import type { JSX } from 'preact';
import type { ApiError } from '../api.js';
import { Field } from '../ui.js';

/**
 * The client form's protocol settings (issue 21; docs/protocol.md): refresh
 * token rotation and lifetimes. Kept apart from clients-form.tsx, which wires
 * it in: its state, how it maps to the admin API's fields, and its controls.
 */

export type RefreshRotation = 'always' | 'never';

/** The admin API's fields this part of the form edits (GET /clients/{id}). */
export interface ProtocolView {
  refresh_token_rotation?: RefreshRotation;
  refresh_token_idle_ttl?: number;
  refresh_token_grace_period?: number;
}

/** Text as typed; parsed only when sent. */
export interface ProtocolFormState {
  refresh_token_rotation: '' | RefreshRotation;
  refresh_token_idle_ttl: string;
  refresh_token_grace_period: string;
}

export const PROTOCOL_FORM_FIELDS = ['refresh_token_rotation', 'refresh_token_idle_ttl', 'refresh_token_grace_period'] as const;

export function emptyProtocol(): ProtocolFormState {
  return { refresh_token_rotation: '', refresh_token_idle_ttl: '', refresh_token_grace_period: '' };
}

export function protocolFormOf(c: ProtocolView): ProtocolFormState {
  const num = (v: number | undefined) => (v === undefined ? '' : String(v));
  return {
    refresh_token_rotation: c.refresh_token_rotation ?? '',
    refresh_token_idle_ttl: num(c.refresh_token_idle_ttl),
    refresh_token_grace_period: num(c.refresh_token_grace_period),
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
  for (const k of ['refresh_token_idle_ttl', 'refresh_token_grace_period'] as const) {
    const v = whole(p[k]);
    if (v !== undefined) body[k] = v;
  }
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
      <legend>Refresh tokens</legend>
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
    </fieldset>
  );
}
