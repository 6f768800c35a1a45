import { Fragment } from 'preact';
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { Link, navigate, useRoute } from '../router.js';
import { ErrorBox, Loading, Page, Pager, Time, useLoad } from '../ui.js';

/**
 * The audit log (docs/admin.md#audit-log), newest first, keyset-paginated.
 * The filters live in the URL (`?user=&actor=&action=&tenant=&from=&to=&cursor=`),
 * so a filtered view can be linked; times are kept there as RFC 3339 (UTC),
 * what the API takes, and shown in datetime-local inputs in the browser's zone.
 */

type Props = { params: Record<string, string> };

interface AuditEntry {
  id: string;
  at: string;
  action: string;
  tenant: string | null;
  actor: string | null;
  subject: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
}

interface AuditPage {
  items: AuditEntry[];
  next_cursor: string | null;
}

const FILTERS = ['user', 'actor', 'action', 'tenant', 'from', 'to'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** Every event type (packages/server/src/audit/events.ts; a test keeps the two equal), offered as suggestions; any other value can be typed. */
const ACTIONS = [
  'api.created', 'api.deleted', 'api.updated', 'api_token.created', 'api_token.revoked', 'attribute.deleted', 'attribute.saved',
  'client.created', 'client.deleted', 'client.ip_denied', 'client.registered', 'client.secret_rotated', 'client.updated', 'contacts.synced',
  'directory.synced', 'federation.login.failed', 'federation.login.succeeded', 'federation.logout', 'federation.logout_refused',
  'grant.revoked', 'identity_provider.created', 'identity_provider.deleted', 'identity_provider.key_rotated', 'identity_provider.updated', 'inbound_source.deleted',
  'inbound_source.saved', 'inbound_source.secret_rotated', 'keys.rotated', 'link.approval_requested', 'link.approved', 'link.rejected',
  'login.failed', 'login.succeeded', 'membership.added', 'membership.removed', 'mfa.challenge_failed', 'mfa.enrolled', 'mfa.recovery_code_used',
  'mfa.recovery_codes_regenerated', 'mfa.removed', 'mfa.reset', 'mfa.verified', 'password.changed', 'password.reset', 'password.reset_requested',
  'registration_token.created', 'registration_token.revoked', 'role.deleted', 'role.saved', 'session.revoked', 'tenant.branding_changed',
  'tenant.created', 'tenant.deleted', 'tenant.updated', 'token.exchanged', 'user.activated', 'user.activation_sent', 'user.anonymized',
  'user.confirmed', 'user.created', 'user.deleted', 'user.disabled', 'user.email_change_requested', 'user.enabled', 'user.exported',
  'user.invited', 'user.jit_created', 'user.linked', 'user.locked', 'user.merged', 'user.password_set', 'user.phone_confirmed',
  'user.registered', 'user.registration_attempted', 'user.roles_changed', 'user.unlinked', 'user.unlocked', 'user.updated', 'users.exported',
  'users.import_started', 'users.imported', 'webhook.created', 'webhook.deleted', 'webhook.replayed', 'webhook.secret_rotated',
  'webhook.updated',
];

/** Badge colour by what happened: removals and failures red, security-relevant changes amber, creations green. */
export function actionClass(action: string): string {
  if (/(deleted|failed|locked|denied|disabled)$/.test(action)) return 'badge bad';
  if (/(rotated|reset|revoked|removed|roles_changed|recovery_code_used|reset_requested)$/.test(action)) return 'badge warn';
  if (/(created|succeeded|enrolled|enabled|confirmed|registered|added|verified)$/.test(action)) return 'badge ok';
  return 'badge';
}

/** RFC 3339 (or epoch ms) → the value of a datetime-local input, in the browser's time zone. */
function toLocalInput(value: string): string {
  if (!value) return '';
  const d = new Date(/^\d+$/.test(value) ? Number(value) : value);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A datetime-local value (local time) → RFC 3339 in UTC, what the API takes. */
function fromLocalInput(value: string): string {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function filtersOf(query: URLSearchParams): Filters {
  return Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ''])) as Filters;
}

/** The kinds of things an entry names whose readable name the console looks up. */
type Named = 'user' | 'client';

/**
 * `kind:id` → a readable name: a user's username (else email, else full
 * name), a client's `client_name` (else null: its id is its name). Null when
 * it is gone or not visible to this administrator; the id is shown then.
 * Cached for the page's life.
 */
const nameCache = new Map<string, Promise<string | null>>();

function lookUpName(kind: Named, id: string): Promise<string | null> {
  const key = `${kind}:${id}`;
  let p = nameCache.get(key);
  if (!p) {
    p = kind === 'user'
      ? api<{ username?: string | null; email?: string | null; given_name?: string | null; family_name?: string | null }>('GET', `/users/${encodeURIComponent(id)}`)
        .then((r) => r.data.username || r.data.email || [r.data.given_name, r.data.family_name].filter(Boolean).join(' ') || null)
        .catch(() => null)
      : api<{ client_name?: string | null }>('GET', `/clients/${encodeURIComponent(id)}`)
        .then((r) => r.data.client_name || null)
        .catch(() => null);
    nameCache.set(key, p);
  }
  return p;
}

/** Names of the users and clients a page of entries names, as actors or targets (one request per distinct one, cached). */
function useNames(refs: { kind: Named; id: string }[]): Record<string, string | null> {
  const [names, setNames] = useState<Record<string, string | null>>({});
  const key = [...new Set(refs.map((r) => `${r.kind}:${r.id}`))].sort().join('\n');
  useEffect(() => {
    let live = true;
    const wanted = key ? key.split('\n') : [];
    void Promise.all(wanted.map(async (ref) => {
      const [kind, ...rest] = ref.split(':');
      return [ref, await lookUpName(kind as Named, rest.join(':'))] as const;
    })).then((pairs) => {
      if (live) setNames(Object.fromEntries(pairs));
    });
    return () => {
      live = false;
    };
  }, [key]);
  return names;
}

/** What kind of thing an entry's actor is (a client when `actor_type` says so, else a user). */
function actorKind(e: AuditEntry): Named | undefined {
  if (!e.actor) return undefined;
  return e.details.actor_type === 'client' ? 'client' : 'user';
}

/** What kind of thing an entry's subject is: `details.target` for admin writes, a user for user and sign-in events. */
function targetKind(e: AuditEntry): string | undefined {
  if (!e.subject) return undefined;
  if (typeof e.details.target === 'string') return e.details.target;
  if (e.action.startsWith('client.')) return 'client';
  return /^(user|login|password|mfa|membership|session|grant)\./.test(e.action) ? 'user' : undefined;
}

/** A link to the console page of what an entry names, when there is one; `label` replaces the id as its text (the id stays in the title). */
function Target(props: { id: string | null; kind: unknown; label?: string | null }): JSX.Element {
  const id = props.id;
  if (!id) return <span class="muted">—</span>;
  const href = props.kind === 'client' ? `/clients/${encodeURIComponent(id)}`
    : props.kind === 'api' ? `/apis/${encodeURIComponent(id)}`
      : props.kind === 'tenant' ? `/tenants/${encodeURIComponent(id)}`
        : props.kind === 'user' ? `/users/${encodeURIComponent(id)}` : undefined;
  const text = props.label || id;
  return <span title={id}>{href ? <Link href={href}>{text}</Link> : text}</span>;
}

function FilterForm(props: { initial: Filters; onApply(f: Filters): void; onClear(): void }): JSX.Element {
  const [f, setF] = useState<Filters>({ ...props.initial, from: toLocalInput(props.initial.from), to: toLocalInput(props.initial.to) });
  const set = (k: keyof Filters, v: string) => setF((p) => ({ ...p, [k]: v }));
  return (
    <form class="form filters" role="search" onSubmit={(e) => {
      e.preventDefault();
      props.onApply({ ...f, from: fromLocalInput(f.from), to: fromLocalInput(f.to) });
    }}>
      <div class="grid2">
        <label>
          User or subject ID
          <input name="user" value={f.user} spellcheck={false} autoComplete="off" placeholder="what the entry is about" onInput={(e) => set('user', e.currentTarget.value)} />
        </label>
        <label>
          Actor
          <input name="actor" value={f.actor} spellcheck={false} autoComplete="off" placeholder="user id or client_id that acted" onInput={(e) => set('actor', e.currentTarget.value)} />
        </label>
        <label>
          Action
          <input name="action" list="audit-actions" value={f.action} spellcheck={false} autoComplete="off" placeholder="e.g. client.created"
            onInput={(e) => set('action', e.currentTarget.value)} />
        </label>
        <label>
          Tenant
          <input name="tenant" value={f.tenant} spellcheck={false} autoComplete="off" placeholder="all you administer" onInput={(e) => set('tenant', e.currentTarget.value)} />
        </label>
        <label>
          From
          <input name="from" type="datetime-local" value={f.from} onInput={(e) => set('from', e.currentTarget.value)} />
        </label>
        <label>
          To
          <input name="to" type="datetime-local" value={f.to} onInput={(e) => set('to', e.currentTarget.value)} />
        </label>
      </div>
      <datalist id="audit-actions">
        {ACTIONS.map((a) => <option key={a} value={a} />)}
      </datalist>
      <div class="actions">
        <button type="submit" class="btn primary">Apply filters</button>
        <button type="button" class="btn" onClick={props.onClear}>Clear</button>
      </div>
    </form>
  );
}

export function AuditView(_props: Props): JSX.Element {
  const { query } = useRoute();
  const filters = filtersOf(query);
  const cursor = query.get('cursor') ?? '';
  const key = FILTERS.map((k) => filters[k]).join('\u0000') + '\u0000' + cursor;
  const load = useLoad(() => api<AuditPage>('GET', `/audit${qs({
    subject: filters.user, actor: filters.actor, action: filters.action, tenant: filters.tenant, from: filters.from, to: filters.to, cursor, limit: 50,
  })}`), [key]);

  const go = (f: Filters, nextCursor?: string, replace = true) => navigate(`/audit${qs({ ...f, cursor: nextCursor })}`, { replace });
  const entries = load.data?.data.items;
  const names = useNames((entries ?? []).flatMap((e) => {
    const refs: { kind: Named; id: string }[] = [];
    const actor = actorKind(e);
    if (actor) refs.push({ kind: actor, id: e.actor! });
    const target = targetKind(e);
    if (target === 'user' || target === 'client') refs.push({ kind: target, id: e.subject! });
    return refs;
  }));
  const nameOf = (kind: string | undefined, id: string | null) => (id && (kind === 'user' || kind === 'client') ? names[`${kind}:${id}`] : null);
  const filtered = FILTERS.some((k) => filters[k]);

  return (
    <Page title="Audit log">
      {/* Keyed by the URL's filters: back/forward and links re-fill the form. */}
      <FilterForm key={FILTERS.map((k) => filters[k]).join('\u0000')} initial={filters}
        onApply={(f) => go(f)} onClear={() => go({ user: '', actor: '', action: '', tenant: '', from: '', to: '' })} />
      <ErrorBox error={load.error} />
      {load.loading && !entries ? <Loading /> : null}
      {entries ? (
        <>
          <div class="table-wrap">
            <table class="table audit">
              <thead>
                <tr><th>Time</th><th>Action</th><th>Actor</th><th>Target</th><th>Tenant</th><th>IP</th><th>Details</th></tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={e.id}>
                    <td><Time value={e.at} /></td>
                    <td><span class={actionClass(e.action)}>{e.action}</span></td>
                    <td>
                      <Target id={e.actor} kind={actorKind(e)} label={nameOf(actorKind(e), e.actor)} />
                      {typeof e.details.actor_type === 'string' ? <span class="muted"> ({e.details.actor_type})</span> : null}
                    </td>
                    <td><Target id={e.subject} kind={targetKind(e)} label={nameOf(targetKind(e), e.subject)} /></td>
                    <td>{e.tenant ?? <span class="muted">—</span>}</td>
                    <td>{e.ip ?? <span class="muted">—</span>}</td>
                    <td>
                      <details>
                        <summary>{Object.keys(e.details).length} fields</summary>
                        <dl class="kv small">
                          {Object.entries({ ...e.details, ...(e.user_agent ? { user_agent: e.user_agent } : {}), entry: e.id }).map(([k, v]) => (
                            <Fragment key={k}>
                              <dt>{k}</dt>
                              <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                            </Fragment>
                          ))}
                        </dl>
                      </details>
                    </td>
                  </tr>
                ))}
                {entries.length === 0 ? <tr><td colSpan={7} class="muted">No entries{filtered || cursor ? ' match these filters' : ''}.</td></tr> : null}
              </tbody>
            </table>
          </div>
          <Pager next={load.data?.data.next_cursor} onNext={(c) => go(filters, c, false)} {...(cursor ? { onFirst: () => go(filters) } : {})} />
        </>
      ) : null}
    </Page>
  );
}
