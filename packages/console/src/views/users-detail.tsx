import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, takeReplayed } from '../api';
import type { ApiResult } from '../api';
import { currentWho } from '../auth';
import { Link, navigate } from '../router';
import { ErrorBox, Loading, Notice, Page, StatusBadge, Time, useLoad } from '../ui';
import { useTenantRoles } from './tenants';
import { ExternalLinks, Memberships, Sessions } from './users-sessions';
import { ProfileFields, displayName, roleError } from './users';
import type { UserView } from './users';

type Flash = { kind: 'success' | 'warning'; text: string } | undefined;

/** Replay keys of this page's operations that can need step-up (docs/admin.md#step-up). */
const keys = (id: string) => ({
  disable: `user-disable:${id}`,
  remove: `user-delete:${id}`,
  roles: `user-roles:${id}`,
  mfa: `user-mfa-reset:${id}`,
  addMembership: `user-membership-add:${id}`,
  removeMembership: `user-membership-remove:${id}`,
  removeLink: `user-link-remove:${id}`,
});

const REPLAY_DONE: Record<keyof ReturnType<typeof keys>, string> = {
  disable: 'The user is disabled.',
  remove: 'The user was deleted.',
  roles: 'Roles saved.',
  mfa: 'Multi-factor authentication was reset.',
  addMembership: 'Membership added.',
  removeMembership: 'Membership removed.',
  removeLink: 'External link removed.',
};

function mfaResetText(removed: number): string {
  return removed === 0
    ? 'MFA reset: the user had no second factor.'
    : `MFA reset: ${removed} factor${removed === 1 ? '' : 's'} removed. The user signs in with their password alone (or enrolls again where MFA is required).`;
}

/**
 * One user: profile (edited with If-Match: a 412 means someone else changed
 * it), status actions, roles, memberships, MFA reset, external identity
 * links and sessions.
 */
export function UserDetail(props: { params: Record<string, string> }): JSX.Element {
  const id = props.params.id ?? '';
  const path = `/users/${encodeURIComponent(id)}`;
  const k = keys(id);
  const user = useLoad(() => api<UserView>('GET', path), [path]);
  const [flash, setFlash] = useState<Flash>();
  const [actionError, setActionError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  // Back from a step-up sign-in: the outcome of the operation that needed it.
  useEffect(() => {
    for (const name of Object.keys(k) as Array<keyof typeof k>) {
      const out = takeReplayed<unknown>(k[name]);
      if (!out) continue;
      if (out instanceof ApiError) {
        setActionError(out);
      } else if (name === 'remove') {
        navigate('/users', { replace: true });
      } else if (name === 'mfa') {
        setFlash({ kind: 'success', text: mfaResetText((out as ApiResult<{ removed: number }>).data.removed) });
      } else {
        setFlash({ kind: 'success', text: REPLAY_DONE[name] });
      }
    }
  }, [id]);

  const u = user.data?.data;
  const etag = user.data?.etag;

  /** Runs an action; `done` says what happened. Errors show above the page's sections. */
  const run = async (fn: () => Promise<string | undefined>) => {
    setBusy(true);
    setActionError(undefined);
    setFlash(undefined);
    try {
      const text = await fn();
      if (text) setFlash({ kind: 'success', text });
      user.reload();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  const statusAction = (name: 'disable' | 'enable' | 'unlock', confirmText?: string) => () => {
    if (confirmText && !window.confirm(confirmText)) return;
    void run(async () => {
      await api('POST', `${path}/${name}`, { ...(etag ? { ifMatch: etag } : {}), ...(name === 'disable' ? { replayKey: k.disable } : {}) });
      return { disable: 'The user is disabled: every session and token ended.', enable: 'The user is active.', unlock: 'The user is unlocked.' }[name];
    });
  };
  const remove = () => {
    if (!u || !window.confirm(`Delete ${displayName(u)}? Their sessions and tokens end; the audit log keeps their entries.`)) return;
    void run(async () => {
      await api('DELETE', path, { ...(etag ? { ifMatch: etag } : {}), replayKey: k.remove });
      navigate('/users');
      return undefined;
    });
  };
  const resetMfa = () => {
    if (!u || !window.confirm(`Reset multi-factor authentication for ${displayName(u)}? Every authenticator app, passkey and recovery code is removed.`)) return;
    void run(async () => {
      const { data } = await api<{ removed: number }>('POST', `${path}/mfa/reset`, { replayKey: k.mfa });
      return mfaResetText(data.removed);
    });
  };

  return (
    <Page title={u ? displayName(u) : 'User'} actions={<Link href="/users" class="btn">Back to users</Link>}>
      {flash ? <Notice kind={flash.kind}>{flash.text}</Notice> : null}
      <ErrorBox error={actionError} />
      <ErrorBox error={user.error} />
      {user.loading && !u ? <Loading /> : null}
      {u ? (
        <>
          <div class="card">
            <div class="page-head">
              <h2>Status</h2>
              <StatusBadge status={u.status} locked={u.locked} />
            </div>
            {u.locked && u.locked_until ? <p class="muted">Locked until <Time value={u.locked_until} />.</p> : null}
            {u.id === currentWho()?.sub ? <p class="muted">This is you: another administrator would have to disable or delete your account.</p> : null}
            <div class="actions">
              {u.id === currentWho()?.sub ? null : u.status !== 'disabled' ? (
                <button type="button" class="btn danger" disabled={busy}
                  onClick={statusAction('disable', `Disable ${displayName(u)}? They are signed out everywhere at once.`)}>Disable</button>
              ) : null}
              {u.status === 'disabled' || u.status === 'pending' ? (
                <button type="button" class="btn" disabled={busy} onClick={statusAction('enable')}>Enable</button>
              ) : null}
              {u.locked || u.status === 'locked' ? (
                <button type="button" class="btn" disabled={busy} onClick={statusAction('unlock')}>Unlock</button>
              ) : null}
              {u.id === currentWho()?.sub ? null : <button type="button" class="btn danger" disabled={busy} onClick={remove}>Delete user</button>}
            </div>
          </div>
          <Profile key={etag} user={u} etag={etag} path={path} onSaved={() => { setFlash({ kind: 'success', text: 'Profile saved.' }); user.reload(); }} onReload={user.reload} />
          <div class="grid2">
            <Roles user={u} etag={etag} path={path} replayKey={k.roles} onSaved={() => { setFlash({ kind: 'success', text: 'Roles saved.' }); user.reload(); }} />
            <div class="card">
              <h2>Multi-factor authentication</h2>
              <p class="muted">Removes every authenticator app, passkey and recovery code, for someone who lost their device. You confirm with your own second factor.</p>
              <div class="actions">
                <button type="button" class="btn danger" disabled={busy} onClick={resetMfa}>Reset MFA</button>
              </div>
            </div>
          </div>
          <Memberships user={u} path={path} addKey={k.addMembership} removeKey={k.removeMembership} />
          <ExternalLinks path={path} removeKey={k.removeLink} />
          <Sessions path={path} />
        </>
      ) : null}
    </Page>
  );
}

interface ProfileForm {
  username: string;
  email: string;
  email_verified: boolean;
  given_name: string;
  family_name: string;
  phone_number: string;
  phone_number_verified: boolean;
  locale: string;
}

const toForm = (u: UserView): ProfileForm => ({
  username: u.username ?? '', email: u.email ?? '', email_verified: u.email_verified, given_name: u.given_name ?? '',
  family_name: u.family_name ?? '', phone_number: u.phone_number ?? '', phone_number_verified: u.phone_number_verified, locale: u.locale ?? '',
});

function Profile(props: { user: UserView; etag: string | undefined; path: string; onSaved(): void; onReload(): void }): JSX.Element {
  const { user: u } = props;
  const [editing, setEditing] = useState(false);
  const [form, setForm] = useState<ProfileForm>(toForm(u));
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);

  const set = <K extends keyof ProfileForm>(name: K) => (e: Event) => {
    const el = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [name]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const before = toForm(u);
    const body: Record<string, unknown> = {};
    for (const key of Object.keys(form) as Array<keyof ProfileForm>) {
      const v = form[key];
      if (v === before[key]) continue;
      // Absent stays, null clears (docs/admin.md#users).
      body[key] = typeof v === 'string' ? (v.trim() === '' ? null : v.trim()) : v;
    }
    if (Object.keys(body).length === 0) {
      setEditing(false);
      return;
    }
    setSaving(true);
    try {
      await api('PATCH', props.path, { body, ifMatch: props.etag ?? '*' });
      setEditing(false);
      props.onSaved();
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };
  const fe = error instanceof ApiError ? error : null;

  if (!editing) {
    return (
      <div class="card">
        <h2>Profile</h2>
        <dl class="kv">
          <dt>User id</dt><dd><code>{u.id}</code></dd>
          <dt>Tenant</dt><dd><Link href={`/tenants/${encodeURIComponent(u.tenant)}`}>{u.tenant}</Link></dd>
          <dt>Username</dt><dd>{u.username ?? <span class="muted">—</span>}</dd>
          <dt>Email</dt><dd>{u.email ?? <span class="muted">—</span>} {u.email ? <span class={u.email_verified ? 'badge ok' : 'badge warn'}>{u.email_verified ? 'verified' : 'unverified'}</span> : null}</dd>
          <dt>Name</dt><dd data-testid="user-name">{[u.given_name, u.family_name].filter(Boolean).join(' ') || <span class="muted">—</span>}</dd>
          <dt>Phone</dt><dd>{u.phone_number ?? <span class="muted">—</span>}</dd>
          <dt>Language</dt><dd>{u.locale ?? <span class="muted">browser default</span>}</dd>
          <dt>Password</dt><dd>{u.has_password ? 'set' : <span class="muted">none (cannot sign in with a password)</span>}</dd>
          <dt>Created</dt><dd><Time value={u.created_at} /></dd>
          <dt>Updated</dt><dd><Time value={u.updated_at} /></dd>
        </dl>
        <div class="actions"><button type="button" class="btn" onClick={() => { setForm(toForm(u)); setEditing(true); }}>Edit profile</button></div>
      </div>
    );
  }
  return (
    <form class="card form" onSubmit={onSubmit} noValidate>
      <h2>Edit profile</h2>
      {fe?.code === 'precondition_failed' ? (
        <div class="alert warning" role="alert">
          <strong>Changed by someone else</strong>
          <p>This user was changed since you opened the page. Reload to see the current values, then make your change again.</p>
          <div class="actions"><button type="button" class="btn" onClick={props.onReload}>Reload</button></div>
        </div>
      ) : <ErrorBox error={error} />}
      <div class="grid2">
        <ProfileFields form={form} set={set} error={fe} />
      </div>
      <div class="field">
        <label class="check"><input type="checkbox" checked={form.email_verified} onChange={set('email_verified')} /> Email address is verified</label>
        <label class="check"><input type="checkbox" checked={form.phone_number_verified} onChange={set('phone_number_verified')} /> Phone number is verified</label>
      </div>
      <div class="actions">
        <button type="submit" class="btn primary" disabled={saving}>{saving ? 'Saving…' : 'Save profile'}</button>
        <button type="button" class="btn" onClick={() => { setEditing(false); setError(undefined); }}>Cancel</button>
      </div>
    </form>
  );
}

function Roles(props: { user: UserView; etag: string | undefined; path: string; replayKey: string; onSaved(): void }): JSX.Element {
  const available = useTenantRoles(props.user.tenant);
  const [selected, setSelected] = useState<string[]>(props.user.roles);
  const [error, setError] = useState<unknown>();
  useEffect(() => setSelected(props.user.roles), [props.user.roles.join(',')]);
  const changed = [...selected].sort().join(',') !== [...props.user.roles].sort().join(',');
  const toggle = (role: string) => (e: Event) => {
    const on = (e.currentTarget as HTMLInputElement).checked;
    setSelected(on ? [...selected, role] : selected.filter((r) => r !== role));
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('PUT', `${props.path}/roles`, { body: { roles: selected }, ...(props.etag ? { ifMatch: props.etag } : {}), replayKey: props.replayKey });
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  const fe = error instanceof ApiError ? error : null;
  const names = [...new Set([...available.map((r) => r.name), ...props.user.roles])];
  return (
    <form class="card" onSubmit={save}>
      <h2>Roles in {props.user.tenant}</h2>
      {fe && !roleError(fe) ? <ErrorBox error={error} /> : null}
      <fieldset>
        <legend>Roles</legend>
        {names.map((r) => (
          <label class="check" key={r}><input type="checkbox" checked={selected.includes(r)} onChange={toggle(r)} /> {r}</label>
        ))}
        {roleError(fe) ? <p class="field-error" role="alert">{roleError(fe)}</p> : null}
      </fieldset>
      <div class="actions"><button type="submit" class="btn" disabled={!changed}>Save roles</button></div>
    </form>
  );
}
