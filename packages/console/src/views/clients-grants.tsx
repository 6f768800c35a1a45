import type { JSX } from 'preact';
import type { ApiError } from '../api.js';
import { Field } from '../ui.js';

/**
 * The opt-in grants of issue 21 in the client form: device authorization
 * (RFC 8628) and token exchange (RFC 8693) with its policy, which the admin
 * API requires together with the grant (docs/protocol.md#token-exchange).
 * Kept apart from clients-form.tsx, which wires it in.
 */

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** GET /clients/{id}: the token exchange policy. */
export interface ExchangePolicy {
  subject_clients: string[];
  audiences: string[];
  scopes: string[];
}

/** Text as typed: client ids and API identifiers one per line, scopes separated by spaces or lines. */
export interface ExchangeFormState {
  subject_clients: string;
  audiences: string;
  scopes: string;
}

export function exchangeFormOf(p: ExchangePolicy | undefined): ExchangeFormState {
  return { subject_clients: (p?.subject_clients ?? []).join('\n'), audiences: (p?.audiences ?? []).join('\n'), scopes: (p?.scopes ?? []).join(' ') };
}

const words = (text: string) => text.split(/\s+/).filter(Boolean);

/** The policy to send: only with the grant (the API refuses one without the other, and says which is missing). */
export function exchangeBody(grants: readonly string[], p: ExchangeFormState): Record<string, unknown> {
  if (!grants.includes(EXCHANGE_GRANT)) return {};
  return { token_exchange: { subject_clients: words(p.subject_clients), audiences: words(p.audiences), scopes: words(p.scopes) } };
}

interface Props {
  grants: readonly string[];
  toggle(grant: string, on: boolean): void;
  policy: ExchangeFormState;
  onPolicy(next: ExchangeFormState): void;
  confidential: boolean;
  error: ApiError | null;
}

export function OptInGrants(props: Props): JSX.Element {
  const p = props.policy;
  const set = (k: keyof ExchangeFormState, v: string) => props.onPolicy({ ...p, [k]: v });
  const exchange = props.grants.includes(EXCHANGE_GRANT);
  return (
    <>
      <label class="check">
        <input type="checkbox" name="grant_types" value={DEVICE_GRANT} checked={props.grants.includes(DEVICE_GRANT)}
          onChange={(e) => props.toggle(DEVICE_GRANT, e.currentTarget.checked)} />
        Device authorization (device_code): TVs and command-line tools; people enter a code at /device
      </label>
      {props.confidential || exchange ? (
        <label class="check">
          <input type="checkbox" name="grant_types" value={EXCHANGE_GRANT} checked={exchange}
            onChange={(e) => props.toggle(EXCHANGE_GRANT, e.currentTarget.checked)} />
          Token exchange (token-exchange): this service calls other APIs for the users of the clients below
        </label>
      ) : null}
      {exchange ? (
        <fieldset class="group">
          <legend>Token exchange policy</legend>
          {/* The API reports the policy's problems under token_exchange (e.g. an empty list), shown here. */}
          {props.error?.fields?.token_exchange ? <p class="field-error" role="alert" data-field="token_exchange">{props.error.fields.token_exchange}</p> : null}
          <div class="grid2">
            <Field label="Whose users' tokens (client IDs)" name="token_exchange_subject_clients" hint="One per line: the clients whose access tokens this service may exchange.">
              <textarea name="token_exchange_subject_clients" rows={2} value={p.subject_clients} spellcheck={false}
                onInput={(e) => set('subject_clients', e.currentTarget.value)} />
            </Field>
            <Field label="For which APIs (identifiers)" name="token_exchange_audiences" hint="One per line: the APIs it may obtain tokens for.">
              <textarea name="token_exchange_audiences" rows={2} value={p.audiences} spellcheck={false}
                onInput={(e) => set('audiences', e.currentTarget.value)} />
            </Field>
          </div>
          <Field label="Exchangeable scopes" name="token_exchange_scopes" hint="Space-separated scopes of those APIs.">
            <input name="token_exchange_scopes" value={p.scopes} spellcheck={false} onInput={(e) => set('scopes', e.currentTarget.value)} />
          </Field>
        </fieldset>
      ) : null}
    </>
  );
}
