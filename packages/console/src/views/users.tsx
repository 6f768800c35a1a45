import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, qs, takeReplayed } from '../api';
import { currentWho, isPlatformAdmin } from '../auth';
import { Link, navigate, useRoute } from '../router';
import { ErrorBox, Field, Loading, Page, Pager, StatusBadge, Time, fieldMessage, useLoad } from '../ui';
import { useTenantRoles, useTenants } from './tenants';
import type { TenantPolicy } from './tenants';

/** A user as GET /users/{id} shows it (admin/users/schemas.ts userView). */
export interface UserView {
  id: string;
  tenant: string;
  username: string | null;
  email: string | null;
  email_verified: boolean;
  given_name: string | null;
  family_name: string | null;
  phone_number: string | null;
  phone_number_verified: boolean;
  status: 'pending' | 'active' | 'locked' | 'disabled';
  locked: boolean;
  locked_until: string | null;
  roles: string[];
  locale: string | null;
  has_password: boolean;
  created_at: string;
  updated_at: string;
}

export const STATUSES = ['active', 'pending', 'locked', 'disabled'] as const;

/** "Given Family", or the username / email when there is no name. */
export function displayName(u: Pick<UserView, 'given_name' | 'family_name' | 'username' | 'email' | 'id'>): string {
  const name = [u.given_name, u.family_name].filter(Boolean).join(' ');
  return name || u.username || u.email || u.id;
}

const FILTERS = ['email', 'username', 'name_prefix', 'status', 'tenant'] as const;
type Filter = (typeof FILTERS)[number];

/**
 * Users: search by exact email or username, name prefix, status (and tenant,
 * for platform administrators), keyset-paginated with the API's cursors.
 * The search lives in the URL (?email=…&cursor=…), so back/forward and
 * reloads keep it.
 */
export function UsersList(_props: { params: Record<string, string> }): JSX.Element {
  const { query } = useRoute();
  const applied: Record<Filter, string> = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])) as Record<Filter, string>;
  const cursor = query.get('cursor') ?? '';
  const key = `${FILTERS.map((f) => applied[f]).join('\u0000')}\u0000${cursor}`;
  const [form, setForm] = useState(applied);
  useEffect(() => setForm(applied), [key]);
  const tenants = useTenants();

  const { data, error, loading } = useLoad(
    () => api<{ items: UserView[]; next_cursor: string | null }>('GET', `/users${qs({ ...applied, cursor, limit: 25 })}`).then((r) => r.data),
    [key],
  );

  const go = (values: Record<string, string>, nextCursor?: string) => {
    navigate(`/users${qs({ ...values, cursor: nextCursor })}`);
  };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    go(Object.fromEntries(FILTERS.map((f) => [f, form[f].trim()])));
  };
  const set = (name: Filter) => (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value });
  const fieldError = error instanceof ApiError ? error : null;
  const filtered = FILTERS.some((f) => applied[f]);

  return (
    <Page title="Users" actions={<Link href="/users/new" class="btn primary">New user</Link>}>
      <form class="toolbar" role="search" onSubmit={onSubmit}>
        <Field label="Email" name="email" error={fieldError}>
          <input type="search" name="email" value={form.email} onInput={set('email')} autoComplete="off" />
        </Field>
        <Field label="Username" name="username" error={fieldError}>
          <input type="search" name="username" value={form.username} onInput={set('username')} autoComplete="off" />
        </Field>
        <Field label="Name starts with" name="name_prefix" error={fieldError}>
          <input type="search" name="name_prefix" value={form.name_prefix} onInput={set('name_prefix')} autoComplete="off" />
        </Field>
        <Field label="Status" name="status" error={fieldError}>
          <select name="status" value={form.status} onChange={set('status')}>
            <option value="">Any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </Field>
        {isPlatformAdmin() && tenants.length > 1 ? (
          <Field label="Tenant" name="tenant" error={fieldError}>
            <select name="tenant" value={form.tenant} onChange={set('tenant')}>
              <option value="">{currentWho()?.tenant ?? 'Mine'} (mine)</option>
              {tenants.filter((t) => t.id !== currentWho()?.tenant).map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
            </select>
          </Field>
        ) : null}
        <div class="actions">
          <button type="submit" class="btn primary">Search</button>
          {filtered ? <button type="button" class="btn" onClick={() => go({})}>Clear</button> : null}
        </div>
      </form>
      <ErrorBox error={error} />
      {loading && !data ? <Loading /> : null}
      {data ? (
        <>
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr><th>Name</th><th>Username</th><th>Email</th><th>Status</th><th>Roles</th><th>Created</th></tr>
              </thead>
              <tbody>
                {data.items.length === 0 ? (
                  <tr><td colSpan={6} class="empty">{filtered ? 'No user matches.' : 'No users yet.'}</td></tr>
                ) : null}
                {data.items.map((u) => (
                  <tr key={u.id}>
                    <td><Link href={`/users/${encodeURIComponent(u.id)}`}>{displayName(u)}</Link></td>
                    <td>{u.username ?? <span class="muted">—</span>}</td>
                    <td>{u.email ?? <span class="muted">—</span>}</td>
                    <td><StatusBadge status={u.status} locked={u.locked} /></td>
                    <td>{u.roles.length ? u.roles.join(', ') : <span class="muted">—</span>}</td>
                    <td class="nowrap"><Time value={u.created_at} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager
            next={data.next_cursor}
            onNext={(c) => go(applied, c)}
            {...(cursor ? { onFirst: () => go(applied) } : {})}
          />
        </>
      ) : null}
    </Page>
  );
}

const CREATE_KEY = 'user-create';

interface CreateForm {
  tenant: string;
  username: string;
  email: string;
  email_verified: boolean;
  given_name: string;
  family_name: string;
  phone_number: string;
  password: string;
  status: 'active' | 'pending' | 'disabled';
  roles: string[];
  locale: string;
}

/**
 * New user: username and/or email, name, phone, an optional password
 * (without one the person cannot sign in with a password until they reset
 * it), status, roles in the home tenant (granting `admin` needs step-up).
 */
export function UserCreate(_props: { params: Record<string, string> }): JSX.Element {
  const mine = currentWho()?.tenant ?? 'default';
  const [form, setForm] = useState<CreateForm>({
    tenant: mine, username: '', email: '', email_verified: false, given_name: '', family_name: '', phone_number: '',
    password: '', status: 'active', roles: [], locale: '',
  });
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const tenants = useTenants();
  const roles = useTenantRoles(form.tenant);

  // Back from a step-up (granting admin): the replayed creation's outcome.
  useEffect(() => {
    const out = takeReplayed<UserView>(CREATE_KEY);
    if (out instanceof ApiError) setError(out);
    else if (out) navigate(`/users/${encodeURIComponent(out.data.id)}`, { replace: true });
  }, []);

  const set = <K extends keyof CreateForm>(name: K) => (e: Event) => {
    const el = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [name]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const toggleRole = (role: string) => (e: Event) => {
    const on = (e.currentTarget as HTMLInputElement).checked;
    setForm({ ...form, roles: on ? [...form.roles, role] : form.roles.filter((r) => r !== role) });
  };

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body: Record<string, unknown> = { status: form.status, email_verified: form.email_verified, roles: form.roles };
    for (const k of ['username', 'email', 'given_name', 'family_name', 'phone_number', 'locale'] as const) {
      if (form[k].trim()) body[k] = form[k].trim();
    }
    if (form.password) body.password = form.password;
    if (form.tenant && form.tenant !== mine) body.tenant = form.tenant;
    try {
      const { data } = await api<UserView>('POST', '/users', { body, replayKey: CREATE_KEY });
      navigate(`/users/${encodeURIComponent(data.id)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const fe = error instanceof ApiError ? error : null;

  return (
    <Page title="New user" actions={<Link href="/users" class="btn">Back to users</Link>}>
      <ErrorBox error={error} />
      <form class="form card" onSubmit={onSubmit} noValidate>
        {isPlatformAdmin() && tenants.length > 1 ? (
          <Field label="Tenant" name="tenant" error={fe}>
            <select name="tenant" value={form.tenant} onChange={(e) => setForm({ ...form, tenant: (e.currentTarget as HTMLSelectElement).value, roles: [] })}>
              {tenants.map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
            </select>
          </Field>
        ) : null}
        <p class="hint" id="identifier-rule">{IDENTIFIER_RULE}</p>
        <div class="grid2">
          <ProfileFields form={form} set={set} error={fe} />
        </div>
        <Field label="Password" name="password" error={fe}
          hint={`Optional. ${passwordRules(tenants.find((t) => t.id === form.tenant)?.policy.password)} Without one, the user cannot sign in with a password until they reset it.`}>
          <input name="password" type="password" value={form.password} onInput={set('password')} autoComplete="new-password" />
        </Field>
        <div class="field">
          <label class="check">
            <input type="checkbox" name="email_verified" checked={form.email_verified} onChange={set('email_verified')} />
            Email address is verified
          </label>
        </div>
        <Field label="Status" name="status" error={fe}>
          <select name="status" value={form.status} onChange={set('status')}>
            <option value="active">active</option>
            <option value="pending">pending</option>
            <option value="disabled">disabled</option>
          </select>
        </Field>
        <fieldset>
          <legend>Roles in {form.tenant}</legend>
          {roles.length === 0 ? <p class="muted">Loading roles…</p> : null}
          {roles.map((r) => (
            <label class="check" key={r.name}>
              <input type="checkbox" checked={form.roles.includes(r.name)} onChange={toggleRole(r.name)} />
              {r.name}{r.description ? <span class="muted"> — {r.description}</span> : null}
            </label>
          ))}
          {roleError(fe) ? <p class="field-error" role="alert">{roleError(fe)}</p> : null}
          {form.roles.includes('admin') ? <p class="hint">Granting admin asks you to confirm with your second factor.</p> : null}
        </fieldset>
        <div class="actions">
          <button type="submit" class="btn primary" disabled={busy}>{busy ? 'Creating…' : 'Create user'}</button>
          <Link href="/users" class="btn">Cancel</Link>
        </div>
      </form>
    </Page>
  );
}

/** What the create form says under both username and email (the API refuses a user with neither: `required`). */
export const IDENTIFIER_RULE = 'A username or an email address is required (or both).';

/**
 * The tenant's password rules as a sentence (identity/policy.ts: a length
 * range, optionally no common passwords, never the user's own username or
 * email; no composition rules, NIST SP 800-63B). Before the policy has
 * loaded: the rules that always hold.
 */
export function passwordRules(policy: TenantPolicy['password'] | undefined): string {
  const parts = [
    policy ? `${policy.min_length}–${policy.max_length} characters` : null,
    policy?.forbid_common ? 'not a commonly used password' : null,
    'not the username or email address',
  ].filter(Boolean);
  const text = parts.join(', ');
  return `Rules of this tenant: ${text}. Any characters; no rule about upper case, digits or symbols.`;
}

/** The first error about `roles` or one of its entries (`roles.1: unknown_role`), as text. */
export function roleError(e: ApiError | null): string | undefined {
  const entry = Object.entries(e?.fields ?? {}).find(([k]) => k === 'roles' || k.startsWith('roles.'));
  return entry ? fieldMessage(entry[1]) : undefined;
}

/** The profile fields a user is created and edited with (users.tsx create form, users-detail.tsx profile). */
export interface ProfileValues {
  username: string;
  email: string;
  given_name: string;
  family_name: string;
  phone_number: string;
  locale: string;
}

export function ProfileFields(props: {
  form: ProfileValues;
  set(name: keyof ProfileValues): (e: Event) => void;
  error: ApiError | null;
  usernameHint?: string;
}): JSX.Element {
  const { form, set, error: fe } = props;
  return (
    <>
      <Field label="Username" name="username" error={fe} hint={props.usernameHint}>
        <input name="username" value={form.username} onInput={set('username')} autoComplete="off" />
      </Field>
      <Field label="Email" name="email" error={fe}>
        <input name="email" type="email" value={form.email} onInput={set('email')} autoComplete="off" />
      </Field>
      <Field label="Given name" name="given_name" error={fe}>
        <input name="given_name" value={form.given_name} onInput={set('given_name')} autoComplete="off" />
      </Field>
      <Field label="Family name" name="family_name" error={fe}>
        <input name="family_name" value={form.family_name} onInput={set('family_name')} autoComplete="off" />
      </Field>
      <Field label="Phone number" name="phone_number" error={fe} hint="International format, e.g. +4930123456.">
        <input name="phone_number" type="tel" value={form.phone_number} onInput={set('phone_number')} autoComplete="off" />
      </Field>
      <Field label="Language" name="locale" error={fe}>
        <select name="locale" value={form.locale} onChange={set('locale')}>
          <option value="">Browser default</option>
          <option value="en">English</option>
          <option value="de">Deutsch</option>
        </select>
      </Field>
    </>
  );
}
