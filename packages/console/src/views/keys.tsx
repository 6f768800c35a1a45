import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, takeReplayed } from '../api.js';
import type { ApiResult } from '../api.js';
import { ErrorBox, Loading, Notice, Page, Time, useLoad } from '../ui.js';

/**
 * Signing keys (docs/admin.md#signing-keys): public parts only. The API
 * never returns a private key (its response schema has no place for one),
 * so there is nothing secret to show here. Rotation needs step-up: after the
 * sign-in round trip the shell replays it and this view shows the outcome.
 */

type Props = { params: Record<string, string> };

interface KeyView {
  kid: string;
  alg: string;
  status: 'active' | 'retiring' | 'retired';
  created_at: string;
  retire_at: string | null;
  public_jwk: { kty: string; kid?: string; alg?: string; use?: string; crv?: string } | null;
}

type KeyList = { items: KeyView[] };
const REPLAY_KEY = 'keys.rotate';

const STATUS_CLASS: Record<KeyView['status'], string> = { active: 'badge ok', retiring: 'badge warn', retired: 'badge' };
const STATUS_TEXT: Record<KeyView['status'], string> = { active: 'current', retiring: 'retiring', retired: 'retired' };

/** Keys that signed nothing before this rotation: active ones not active before (or, without a "before", every active one). */
function newKeys(after: KeyView[], before: KeyView[] | undefined): KeyView[] {
  const old = new Set((before ?? []).filter((k) => k.status === 'active').map((k) => k.kid));
  return after.filter((k) => k.status === 'active' && !old.has(k.kid));
}

export function KeysView(_props: Props): JSX.Element {
  const [replay] = useState(() => takeReplayed<KeyList>(REPLAY_KEY));
  const [rotated, setRotated] = useState<KeyView[] | null>(replay && !(replay instanceof ApiError) ? newKeys(replay.data.items, undefined) : null);
  const [error, setError] = useState<unknown>(replay instanceof ApiError ? replay : null);
  const [busy, setBusy] = useState(false);
  const load = useLoad(() => api<KeyList>('GET', '/keys'), []);
  const keys = load.data?.data.items;

  const rotate = async () => {
    if (!window.confirm('Rotate the signing keys? New keys sign every token from now on; the current ones stay published until the tokens they signed have expired.')) return;
    setBusy(true);
    setError(null);
    setRotated(null);
    try {
      const res: ApiResult<KeyList> = await api<KeyList>('POST', '/keys/rotate', { replayKey: REPLAY_KEY });
      setRotated(newKeys(res.data.items, keys));
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Signing keys" actions={<button type="button" class="btn" disabled={busy} onClick={rotate}>Rotate keys</button>}>
      <p class="muted">
        Keys that sign ID and access tokens, published at the JWKS endpoint. Private keys never leave the server: they are stored
        encrypted and used in-process, so only public parts are listed. Rotating needs a recent multi-factor sign-in.
      </p>
      {rotated ? (
        <Notice kind="success">
          Keys rotated.{rotated.length ? <> New signing keys: {rotated.map((k, i) => <span key={k.kid}>{i ? ', ' : ''}<code>{k.kid}</code> ({k.alg})</span>)}.</> : null}{' '}
          The previous keys stay published (retiring) until every token they signed has expired.
        </Notice>
      ) : null}
      <ErrorBox error={error} />
      <ErrorBox error={load.error} />
      {load.loading && !keys ? <Loading /> : null}
      {keys ? (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th>Key ID</th><th>Algorithm</th><th>Use</th><th>Status</th><th>Created</th><th>Retires at</th></tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.kid}>
                  <td class="nowrap"><code>{k.kid}</code></td>
                  <td>{k.alg}</td>
                  <td>{k.public_jwk?.use === 'enc' ? 'encryption' : 'signing'}</td>
                  <td><span class={STATUS_CLASS[k.status]}>{STATUS_TEXT[k.status]}</span></td>
                  <td class="nowrap"><Time value={k.created_at} /></td>
                  <td class="nowrap"><Time value={k.retire_at} /></td>
                </tr>
              ))}
              {keys.length === 0 ? <tr><td colSpan={6} class="muted">No keys.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
