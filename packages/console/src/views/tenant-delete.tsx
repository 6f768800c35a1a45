import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, takeReplayed } from '../api';
import type { ApiResult } from '../api';
import { navigate } from '../router';
import { ErrorBox, Field } from '../ui';

/** What DELETE /tenants/{tenant} answers (docs/admin.md#deleting-a-tenant). */
interface Deleted { id: string; cascade: boolean; deleted: Record<string, number> }

/** Shown once on the tenants list after a deletion (the tenant's own page is gone). */
let deletedNotice: string | undefined;
export function takeDeletedNotice(): string | undefined {
  const n = deletedNotice;
  deletedNotice = undefined;
  return n;
}

function summary(d: Deleted): string {
  const what = (['users', 'clients', 'members_from_other_tenants'] as const)
    .filter((k) => (d.deleted[k] ?? 0) > 0).map((k) => `${d.deleted[k]} ${k.replace(/_/g, ' ')}`);
  return `Tenant ${d.id} was deleted${what.length ? ` with ${what.join(', ')}` : ''}.`;
}

function done(d: Deleted): void {
  deletedNotice = summary(d);
  navigate('/tenants', { replace: true });
}

/**
 * The danger zone of a tenant's page (platform administrators, not
 * `default`): deleting needs the tenant id typed out, and "everything in it"
 * is a separate, explicit choice. The API asks for MFA step-up; the console
 * signs the administrator in again and replays the deletion.
 */
export function TenantDelete(props: { tenant: string }): JSX.Element {
  const replayKey = `tenant-delete:${props.tenant}`;
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState('');
  const [cascade, setCascade] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const out = takeReplayed<Deleted>(replayKey);
    if (out instanceof ApiError) {
      setOpen(true);
      setError(out);
    } else if (out) done(out.data);
  }, [replayKey]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (typed !== props.tenant) return;
    setBusy(true);
    setError(undefined);
    try {
      const res: ApiResult<Deleted> = await api<Deleted>('DELETE', `/tenants/${encodeURIComponent(props.tenant)}?cascade=${cascade}`, { replayKey });
      done(res.data);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return (
      <div class="card">
        <h2>Delete tenant</h2>
        <p class="muted">Removes the tenant. You confirm with your second factor.</p>
        <div class="actions"><button type="button" class="btn danger" onClick={() => setOpen(true)}>Delete tenant…</button></div>
      </div>
    );
  }
  const notEmpty = error instanceof ApiError && error.code === 'tenant_not_empty';
  return (
    <form class="card form" onSubmit={submit} noValidate aria-label="Delete tenant">
      <h2>Delete tenant</h2>
      <ErrorBox error={error} />
      {notEmpty ? <p>To delete it anyway, with everything in it, tick the box below.</p> : null}
      <label class="check">
        <input type="checkbox" name="cascade" checked={cascade} onChange={(e) => setCascade((e.currentTarget as HTMLInputElement).checked)} />
        {' '}Also delete everything in it: its users, clients, roles, sessions and tokens (members from other tenants lose their membership). This cannot be undone.
      </label>
      <Field label={`Type the tenant id (${props.tenant}) to confirm`} name="confirm">
        <input name="confirm" value={typed} onInput={(e) => setTyped((e.currentTarget as HTMLInputElement).value)} autoComplete="off" spellcheck={false} />
      </Field>
      <div class="actions">
        <button type="submit" class="btn danger" disabled={busy || typed !== props.tenant}>Delete tenant {props.tenant}</button>
        <button type="button" class="btn" onClick={() => { setOpen(false); setTyped(''); setError(undefined); }}>Cancel</button>
      </div>
    </form>
  );
}
