import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { isPlatformAdmin } from '../auth';
import { ErrorBox, Field, Loading, Notice, Time, useLoad } from '../ui';
import { useTenants } from './tenants';
import { displayName } from './users';
import type { UserView } from './users';

/** A user's tenant memberships, external identity links and live sessions (sections of the user page, users-detail.tsx). */

interface Membership { tenant: string; home: boolean; roles: string[] }
interface LinkView { provider: string; subject: string; email: string | null; created_at: string; last_used_at: string | null }
interface SessionView {
  id: string;
  signed_in_at: string | null;
  expires_at: string | null;
  last_seen_at: string | null;
  user_agent: string | null;
  ip: string | null;
  applications: string[];
}

/**
 * A section's write: ask (when `question` is given), run, show what it says
 * happened, reload the list; a failure is shown in the section instead.
 */
function useSectionAction(reload: () => void) {
  const [error, setError] = useState<unknown>();
  const [note, setNote] = useState<string>();
  const run = async (question: string | null, work: () => Promise<string | undefined>): Promise<boolean> => {
    if (question !== null && !window.confirm(question)) return false;
    setError(undefined);
    setNote(undefined);
    try {
      setNote(await work());
      reload();
      return true;
    } catch (err) {
      setError(err);
      return false;
    }
  };
  return { error, note, run };
}

export function Memberships(props: { user: UserView; path: string; addKey: string; removeKey: string }): JSX.Element {
  const list = useLoad(() => api<{ items: Membership[] }>('GET', `${props.path}/memberships`).then((r) => r.data.items), [props.path]);
  const tenants = useTenants();
  const [tenant, setTenant] = useState('');
  const { error, run } = useSectionAction(list.reload);
  const member = new Set((list.data ?? []).map((m) => m.tenant));
  const add = async (e: Event) => {
    e.preventDefault();
    if (!tenant) return;
    const done = await run(null, async () => {
      await api('PUT', `${props.path}/memberships/${encodeURIComponent(tenant)}`, { replayKey: props.addKey });
      return undefined;
    });
    if (done) setTenant('');
  };
  const remove = (t: string) => run(`Remove ${displayName(props.user)} from tenant ${t}? Their roles there go too.`, async () => {
    await api('DELETE', `${props.path}/memberships/${encodeURIComponent(t)}`, { replayKey: props.removeKey });
    return undefined;
  });
  const candidates = tenants.filter((t) => !member.has(t.id));
  return (
    <div class="card">
      <h2>Tenant memberships</h2>
      <ErrorBox error={list.error ?? error} />
      {list.data ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Tenant</th><th>Roles</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((m) => (
                <tr key={m.tenant}>
                  <td><code>{m.tenant}</code>{m.home ? <> <span class="badge">home</span></> : null}</td>
                  <td>{m.roles.length ? m.roles.join(', ') : <span class="muted">—</span>}</td>
                  <td class="nowrap">{m.home ? null : (
                    <button type="button" class="btn small danger" aria-label={`Remove membership in ${m.tenant}`} onClick={() => void remove(m.tenant)}>Remove</button>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <Loading />}
      {isPlatformAdmin() && candidates.length ? (
        <form class="toolbar" onSubmit={add}>
          <Field label="Add to tenant" name="tenant" error={error instanceof ApiError ? error : null}>
            <select name="tenant" value={tenant} onChange={(e) => setTenant((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">Choose a tenant…</option>
              {candidates.map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
            </select>
          </Field>
          <div class="actions"><button type="submit" class="btn" disabled={!tenant}>Add membership</button></div>
        </form>
      ) : null}
    </div>
  );
}

/** Links to accounts at external identity providers; removing one needs step-up (replayed after it). */
export function ExternalLinks(props: { path: string; removeKey: string }): JSX.Element {
  const list = useLoad(() => api<{ items: LinkView[] }>('GET', `${props.path}/links`).then((r) => r.data.items), [props.path]);
  const { error, note, run } = useSectionAction(list.reload);
  const remove = (l: LinkView) => run(`Remove the link to ${l.provider} account ${l.subject}? That account will no longer sign in as this user.`, async () => {
    await api('DELETE', `${props.path}/links/${encodeURIComponent(l.provider)}/${encodeURIComponent(l.subject)}`, { replayKey: props.removeKey });
    return 'External link removed.';
  });
  const items = list.data ?? [];
  return (
    <div class="card">
      <h2>External identity links</h2>
      {note ? <Notice kind="success">{note}</Notice> : null}
      <ErrorBox error={list.error ?? error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Provider</th><th>Account</th><th>Email (as asserted)</th><th>Linked</th><th>Last used</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {items.length === 0 ? <tr><td colSpan={6} class="empty">No linked accounts.</td></tr> : null}
              {items.map((l) => (
                <tr key={`${l.provider}/${l.subject}`}>
                  <td><code>{l.provider}</code></td>
                  <td class="ua">{l.subject}</td>
                  <td>{l.email ?? <span class="muted">—</span>}</td>
                  <td class="nowrap"><Time value={l.created_at} /></td>
                  <td class="nowrap"><Time value={l.last_used_at} /></td>
                  <td class="nowrap">
                    <button type="button" class="btn small danger" aria-label={`Remove link to ${l.provider}`} onClick={() => void remove(l)}>Remove</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

export function Sessions(props: { path: string }): JSX.Element {
  const list = useLoad(() => api<{ items: SessionView[] }>('GET', `${props.path}/sessions`).then((r) => r.data.items), [props.path]);
  const { error, note, run } = useSectionAction(list.reload);
  const revoke = (sid: string) => run('Sign the user out of this session?', async () => {
    await api('DELETE', `${props.path}/sessions/${encodeURIComponent(sid)}`);
    return 'Session revoked.';
  });
  const revokeAll = () => run('Sign the user out everywhere?', async () => {
    const { data } = await api<{ revoked: number }>('DELETE', `${props.path}/sessions`);
    return `Signed out everywhere: ${data.revoked} session${data.revoked === 1 ? '' : 's'} revoked.`;
  });
  const items = list.data ?? [];
  return (
    <div class="card">
      <div class="page-head">
        <h2>Sessions</h2>
        {items.length ? <button type="button" class="btn danger" onClick={() => void revokeAll()}>Sign out everywhere</button> : null}
      </div>
      {note ? <Notice kind="success">{note}</Notice> : null}
      <ErrorBox error={list.error ?? error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Signed in</th><th>Last seen</th><th>Expires</th><th>IP</th><th>Device</th><th>Applications</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {items.length === 0 ? <tr><td colSpan={7} class="empty">No live sessions.</td></tr> : null}
              {items.map((s) => (
                <tr key={s.id}>
                  <td class="nowrap"><Time value={s.signed_in_at} /></td>
                  <td class="nowrap"><Time value={s.last_seen_at} /></td>
                  <td class="nowrap"><Time value={s.expires_at} /></td>
                  <td>{s.ip ?? '—'}</td>
                  <td class="ua">{s.user_agent ?? '—'}</td>
                  <td>{s.applications.length ? s.applications.join(', ') : <span class="muted">—</span>}</td>
                  <td class="nowrap"><button type="button" class="btn small danger" onClick={() => void revoke(s.id)}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
