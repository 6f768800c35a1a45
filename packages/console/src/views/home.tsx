import type { JSX } from 'preact';
import { api, qs } from '../api';
import { currentWho, isPlatformAdmin } from '../auth';
import { Link } from '../router';
import { ErrorBox, Loading, Page, Time, useLoad } from '../ui';

interface Counts {
  tenants?: number;
  clients?: number;
  apis?: number;
  audit?: AuditItem[];
  auditError?: unknown;
}
interface AuditItem { id: string; at: string; action: string; actor: string | null; subject: string | null }

/** Settles to undefined when one source fails (a missing scope hides a tile's number, not the page). */
async function count(path: string): Promise<number | undefined> {
  try {
    return (await api<{ items: unknown[] }>('GET', path)).data.items.length;
  } catch {
    return undefined;
  }
}

/**
 * The start page: quick links with the cheap counts (lists that are small by
 * nature: tenants, clients, APIs; users have no total, by design) and the
 * latest audit entries.
 */
export function Home(_props: { params: Record<string, string> }): JSX.Element {
  const who = currentWho();
  const { data, loading } = useLoad<Counts>(async () => {
    const [tenants, clients, apis, audit] = await Promise.all([
      count('/tenants'), count('/clients'), count('/apis'),
      api<{ items: AuditItem[] }>('GET', `/audit${qs({ limit: 8 })}`).then((r) => r.data.items, (e: unknown) => e),
    ]);
    return { tenants, clients, apis, ...(Array.isArray(audit) ? { audit } : { auditError: audit }) };
  }, []);
  const n = (v: number | undefined) => (v === undefined ? '—' : String(v));
  return (
    <Page title="Home">
      <p class="muted">
        Signed in as <strong>{who?.name}</strong>{who?.tenant ? <> in tenant <strong>{who.tenant}</strong></> : null}
        {isPlatformAdmin() ? ' (platform administrator: every tenant)' : ' (tenant administrator)'}.
      </p>
      <div class="tiles">
        <Link href="/users" class="tile"><strong>Users</strong><span class="muted">Search, create, unlock, reset MFA</span></Link>
        <Link href="/tenants" class="tile"><strong>Tenants</strong><span class="count">{n(data?.tenants)}</span></Link>
        <Link href="/clients" class="tile"><strong>Clients</strong><span class="count">{n(data?.clients)}</span></Link>
        <Link href="/apis" class="tile"><strong>APIs</strong><span class="count">{n(data?.apis)}</span></Link>
        <Link href="/keys" class="tile"><strong>Signing keys</strong><span class="muted">Rotate, inspect</span></Link>
        <Link href="/audit" class="tile"><strong>Audit log</strong><span class="muted">Who changed what</span></Link>
      </div>
      <div class="card">
        <h2>Recent activity</h2>
        {loading && !data ? <Loading /> : null}
        {data?.auditError ? <ErrorBox error={data.auditError} /> : null}
        {data?.audit ? (
          <div class="table-wrap">
            <table class="table">
              <thead><tr><th>When</th><th>Event</th><th>Actor</th><th>Subject</th></tr></thead>
              <tbody>
                {data.audit.length === 0 ? <tr><td colSpan={4} class="empty">Nothing yet.</td></tr> : null}
                {data.audit.map((e) => (
                  <tr key={e.id}>
                    <td class="nowrap"><Time value={e.at} /></td>
                    <td><code>{e.action}</code></td>
                    <td><code>{e.actor ?? '—'}</code></td>
                    <td><code>{e.subject ?? '—'}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <p><Link href="/audit">The whole audit log</Link></p>
      </div>
    </Page>
  );
}
