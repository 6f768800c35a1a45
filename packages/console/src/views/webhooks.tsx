import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api.js';
import { Link } from '../router.js';
import { ErrorBox, Field, Loading, Notice, Page, SecretOnce, Time, useLoad } from '../ui.js';
import { useTenants } from './tenants.js';

/**
 * Outbound webhook subscriptions (docs/webhooks.md, admin API /webhooks):
 * a tenant's list, a new subscription (its signing secret shown once),
 * and per subscription its delivery log, replay of one event, enable or
 * disable, and removal.
 */

type Props = { params: Record<string, string> };

/** The events a subscription may ask for (webhooks/model.ts, docs/webhooks.md#events). */
export const WEBHOOK_EVENTS = [
  'user.created', 'user.updated', 'user.disabled', 'user.deleted', 'user.merged', 'user.anonymized',
  'user.linked', 'user.unlinked', 'session.revoked', 'mfa.enrolled', 'mfa.reset',
] as const;

interface Subscription {
  id: string;
  tenant: string;
  url: string;
  events: string[];
  mode: 'immediate' | 'batched';
  interval_minutes: number | null;
  payload: 'minimal' | 'full';
  enabled: boolean;
  description: string | null;
  created_at: string;
}
type Created = Subscription & { secret: string };

interface Delivery {
  id: string;
  status: 'pending' | 'delivered' | 'dead';
  replay: boolean;
  events: string[];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

const value = (e: Event) => (e.target as HTMLInputElement).value;

export function WebhooksList(_props: Props): JSX.Element {
  const tenants = useTenants();
  const [tenant, setTenant] = useState('');
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [form, setForm] = useState({
    url: '', events: new Set<string>(['user.created', 'user.updated', 'user.deleted']), mode: 'immediate' as Subscription['mode'],
    interval: 15, payload: 'minimal' as Subscription['payload'], description: '',
  });
  const load = useLoad(() => api<{ items: Subscription[] }>('GET', `/webhooks${qs({ tenant: tenant || undefined })}`), [tenant]);
  const items = load.data?.data.items;
  const fieldError = error instanceof ApiError ? error : null;

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const body = {
        url: form.url, events: [...form.events], mode: form.mode, payload: form.payload,
        ...(form.mode === 'batched' ? { interval_minutes: form.interval } : {}),
        ...(form.description ? { description: form.description } : {}), ...(tenant ? { tenant } : {}),
      };
      setCreated((await api<Created>('POST', '/webhooks', { body })).data);
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const toggle = (event: string) => {
    const events = new Set(form.events);
    if (events.has(event)) events.delete(event);
    else events.add(event);
    setForm({ ...form, events });
  };

  return (
    <Page title="Webhooks">
      <p class="muted">
        Tessera tells other systems about changes to users, signed with Standard Webhooks headers. Events go out at once or in batches
        every few minutes; failed deliveries are retried with back-off. The signing secret is shown once, when the subscription is created.
      </p>
      {created ? (
        <>
          <SecretOnce label={`Signing secret of ${created.url}`} value={created.secret} />
          <Notice kind="warning">Store the secret in the receiver now: this page will not show it again.</Notice>
        </>
      ) : null}
      <ErrorBox error={error} />
      <form class="form" onSubmit={create}>
        <Field label="Receiver URL" name="url" error={fieldError} hint="https:// URL of the receiver. Private addresses are refused.">
          <input name="url" type="url" required value={form.url} onInput={(e) => setForm({ ...form, url: value(e) })} />
        </Field>
        <Field label="Tenant" name="tenant" error={fieldError}>
          <select name="tenant" value={tenant} onChange={(e) => setTenant((e.target as HTMLSelectElement).value)}>
            <option value="">Your tenant</option>
            {tenants.map((t) => <option key={t.id} value={t.id}>{t.name} ({t.id})</option>)}
          </select>
        </Field>
        <fieldset class="field">
          <legend class="label-text">Events</legend>
          {WEBHOOK_EVENTS.map((ev) => (
            <label key={ev} class="check">
              <input type="checkbox" name="events" value={ev} checked={form.events.has(ev)} onChange={() => toggle(ev)} /> <code>{ev}</code>
            </label>
          ))}
        </fieldset>
        <Field label="Mode" name="mode" error={fieldError}>
          <select name="mode" value={form.mode} onChange={(e) => setForm({ ...form, mode: value(e) as Subscription['mode'] })}>
            <option value="immediate">Immediate: one message per event</option>
            <option value="batched">Batched: every few minutes</option>
          </select>
        </Field>
        {form.mode === 'batched' ? (
          <Field label="Interval (minutes)" name="interval_minutes" error={fieldError} hint="1 to 1440.">
            <input name="interval_minutes" type="number" value={form.interval} onInput={(e) => setForm({ ...form, interval: Number(value(e)) })} />
          </Field>
        ) : null}
        <Field label="Payload" name="payload" error={fieldError}>
          <select name="payload" value={form.payload} onChange={(e) => setForm({ ...form, payload: value(e) as Subscription['payload'] })}>
            <option value="minimal">Minimal: ids and the names of changed fields</option>
            <option value="full">Full: the user's profile too</option>
          </select>
        </Field>
        <Field label="Description" name="description" error={fieldError}>
          <input name="description" maxLength={200} value={form.description} onInput={(e) => setForm({ ...form, description: value(e) })} />
        </Field>
        <div class="actions"><button type="submit" class="btn primary" disabled={busy || form.events.size === 0}>Create subscription</button></div>
      </form>
      <ErrorBox error={load.error} />
      {load.loading && !items ? <Loading /> : null}
      {items ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Receiver</th><th>Tenant</th><th>Events</th><th>Mode</th><th>State</th><th>Created</th></tr></thead>
            <tbody>
              {items.length === 0 ? <tr><td colSpan={6} class="muted">No subscriptions in this tenant.</td></tr> : null}
              {items.map((s) => (
                <tr key={s.id}>
                  <td><Link href={`/webhooks/${encodeURIComponent(s.id)}`}>{s.url}</Link></td>
                  <td>{s.tenant}</td>
                  <td>{s.events.length === WEBHOOK_EVENTS.length ? 'all' : s.events.join(', ')}</td>
                  <td>{s.mode === 'batched' ? `batched, ${s.interval_minutes} min` : 'immediate'}</td>
                  <td><span class={s.enabled ? 'badge ok' : 'badge'}>{s.enabled ? 'enabled' : 'disabled'}</span></td>
                  <td><Time value={s.created_at} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}

const DELIVERY_CLASS: Record<Delivery['status'], string> = { delivered: 'badge ok', pending: 'badge warn', dead: 'badge bad' };

export function WebhookDetail(props: Props): JSX.Element {
  const id = props.params.id!;
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const sub = useLoad(() => api<Subscription>('GET', `/webhooks/${encodeURIComponent(id)}`), [id]);
  const log = useLoad(() => api<{ items: Delivery[] }>('GET', `/webhooks/${encodeURIComponent(id)}/deliveries${qs({ status: status || undefined, limit: 50 })}`), [id, status]);
  const s = sub.data?.data;

  const act = async (fn: () => Promise<unknown>, done: string) => {
    setError(null);
    setNotice('');
    try {
      await fn();
      setNotice(done);
      sub.reload();
      log.reload();
    } catch (err) {
      setError(err);
    }
  };
  const setEnabled = (enabled: boolean) => act(() => api('PATCH', `/webhooks/${encodeURIComponent(id)}`, { body: { enabled }, ifMatch: sub.data?.etag }),
    enabled ? 'Enabled.' : 'Disabled: events are kept for it but not sent.');
  const replay = (event: string) => act(() => api('POST', `/webhooks/${encodeURIComponent(id)}/replay`, { body: { event } }), `Event ${event} queued again.`);
  const remove = async () => {
    if (!window.confirm('Delete this subscription, its queue and its delivery log?')) return;
    try {
      await api('DELETE', `/webhooks/${encodeURIComponent(id)}`);
      history.back();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Page title="Webhook subscription" actions={s ? (
      <>
        <button type="button" class="btn" onClick={() => void setEnabled(!s.enabled)}>{s.enabled ? 'Disable' : 'Enable'}</button>
        <button type="button" class="btn danger" onClick={() => void remove()}>Delete</button>
      </>
    ) : null}>
      <ErrorBox error={sub.error ?? error} />
      {notice ? <Notice kind="success">{notice}</Notice> : null}
      {s ? (
        <dl class="kv">
          <dt>Receiver</dt><dd><code>{s.url}</code></dd>
          <dt>Tenant</dt><dd>{s.tenant}</dd>
          <dt>Events</dt><dd>{s.events.map((e) => <code key={e}>{e} </code>)}</dd>
          <dt>Mode</dt><dd>{s.mode === 'batched' ? `batched every ${s.interval_minutes} minutes` : 'immediate'}</dd>
          <dt>Payload</dt><dd>{s.payload}</dd>
          <dt>State</dt><dd>{s.enabled ? 'enabled' : 'disabled'}</dd>
        </dl>
      ) : <Loading />}
      <h2>Delivery log</h2>
      <Field label="Show" name="status">
        <select name="status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="">All deliveries</option>
          <option value="pending">Pending</option>
          <option value="delivered">Delivered</option>
          <option value="dead">Failed for good</option>
        </select>
      </Field>
      <ErrorBox error={log.error} />
      {log.data ? (
        <div class="table-wrap">
          <table class="table">
            <thead><tr><th>Delivery</th><th>Events</th><th>Status</th><th>Attempts</th><th>Last answer</th><th>Created</th><th /></tr></thead>
            <tbody>
              {log.data.data.items.length === 0 ? <tr><td colSpan={7} class="muted">Nothing delivered yet.</td></tr> : null}
              {log.data.data.items.map((d) => (
                <tr key={d.id}>
                  <td><code>{d.id}</code>{d.replay ? ' (replay)' : ''}</td>
                  <td>{d.events.length}</td>
                  <td><span class={DELIVERY_CLASS[d.status]}>{d.status}</span></td>
                  <td>{d.attempts}</td>
                  <td>{d.last_status ?? d.last_error ?? ''}</td>
                  <td><Time value={d.created_at} /></td>
                  <td>{d.events[0] ? <button type="button" class="btn" onClick={() => void replay(d.events[0]!)}>Send again</button> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <Loading />}
    </Page>
  );
}
