import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { isPlatformAdmin } from '../auth';
import { ErrorBox, Field, Loading, Notice, useLoad } from '../ui';

/** What GET /tenants/{tenant}/branding answers (docs/admin.md, docs/branding.md). */
interface Asset { type: string; bytes: number; url: string }
interface BrandingView {
  tenant: string;
  name: string | null;
  colors: { primary?: string; background?: string; text?: string };
  authenticator_issuer: string | null;
  logo: Asset | null;
  favicon: Asset | null;
  stylesheet: Asset | null;
  updated_at: string | null;
  effective: { name: string; logo_url: string | null; favicon_url: string | null; stylesheet_url: string | null };
}

const COLORS = [['primary', 'Primary colour'], ['background', 'Background colour'], ['text', 'Text colour']] as const;
type ColorKey = (typeof COLORS)[number][0];

/** Reads a chosen file as a base64 data: URI, what the API takes for images. */
function readDataUri(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
    reader.readAsDataURL(file);
  });
}

/**
 * A tenant's branding (docs/branding.md) on its console page: what its
 * sign-in and account pages show (name, logo, colours), and for platform
 * administrators a form to change it or go back to the product's branding.
 * Empty fields are removed (`null`), so the tenant inherits the product's.
 */
export function TenantBranding(props: { tenant: string }): JSX.Element {
  const path = `/tenants/${encodeURIComponent(props.tenant)}/branding`;
  const loaded = useLoad(() => api<BrandingView>('GET', path), [path]);
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState<string>();
  const b = loaded.data?.data;
  return (
    <div class="card" aria-label="Branding">
      <h2>Branding</h2>
      {notice ? <Notice kind="success">{notice}</Notice> : null}
      <ErrorBox error={loaded.error} />
      {loaded.loading && !b ? <Loading /> : null}
      {b && !editing ? (
        <>
          <dl class="kv">
            <dt>Shown as</dt><dd data-testid="brand-name">{b.effective.name}{b.name ? '' : ' (inherited)'}</dd>
            <dt>Logo</dt><dd>{b.effective.logo_url ? <img src={b.effective.logo_url} alt={`${b.effective.name} logo`} class="brand-logo" /> : 'none'}</dd>
            <dt>Colours</dt><dd>{COLORS.map(([k, label]) => b.colors[k] ? <span key={k} title={label}>{b.colors[k]} </span> : null)}{Object.keys(b.colors).length ? '' : 'inherited'}</dd>
            <dt>Authenticator app issuer</dt><dd>{b.authenticator_issuer ?? 'the shown name'}</dd>
            <dt>Stylesheet</dt><dd>{b.stylesheet ? `${b.stylesheet.bytes} bytes` : 'none'}</dd>
          </dl>
          {isPlatformAdmin() ? <div class="actions"><button type="button" class="btn" onClick={() => { setEditing(true); setNotice(undefined); }}>Edit branding</button></div> : null}
        </>
      ) : null}
      {b && editing ? (
        <BrandingForm view={b} path={path}
          onDone={(msg) => { setEditing(false); setNotice(msg); loaded.reload(); }} onCancel={() => setEditing(false)} />
      ) : null}
    </div>
  );
}

function BrandingForm(props: { view: BrandingView; path: string; onDone(msg: string): void; onCancel(): void }): JSX.Element {
  const v = props.view;
  const [name, setName] = useState(v.name ?? '');
  const [issuer, setIssuer] = useState(v.authenticator_issuer ?? '');
  const [colors, setColors] = useState<Record<ColorKey, string>>({ primary: v.colors.primary ?? '', background: v.colors.background ?? '', text: v.colors.text ?? '' });
  const [logo, setLogo] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const filled = Object.fromEntries(COLORS.filter(([k]) => colors[k].trim()).map(([k]) => [k, colors[k].trim()]));
    const body: Record<string, unknown> = {
      name: name.trim() || null,
      authenticator_issuer: issuer.trim() || null,
      colors: Object.keys(filled).length ? filled : null,
    };
    if (logo !== undefined) body.logo = logo;
    try {
      await api('PATCH', props.path, { body });
      props.onDone('Branding saved.');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const reset = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api('DELETE', props.path);
      props.onDone('Branding removed: the product\'s branding shows again.');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const apiError = error instanceof ApiError ? error : null;
  return (
    <form class="form" onSubmit={submit} noValidate aria-label="Edit branding">
      <ErrorBox error={error} />
      <Field label="Name shown on the pages" name="name" error={apiError} hint="Empty: the product's name.">
        <input name="name" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      </Field>
      {COLORS.map(([k, label]) => (
        <Field key={k} label={label} name={`colors.${k}`} error={apiError} hint="A CSS colour such as #0b5fff; empty: inherited.">
          <input name={`colors.${k}`} value={colors[k]} onInput={(e) => setColors({ ...colors, [k]: (e.currentTarget as HTMLInputElement).value })} />
        </Field>
      ))}
      <Field label="Authenticator app issuer" name="authenticator_issuer" error={apiError} hint="The name authenticator apps show; empty: the shown name.">
        <input name="authenticator_issuer" value={issuer} onInput={(e) => setIssuer((e.currentTarget as HTMLInputElement).value)} />
      </Field>
      <Field label="Logo" name="logo" error={apiError} hint="PNG, JPEG, WebP, GIF or SVG; leave empty to keep the current one.">
        <input type="file" name="logo" accept="image/png,image/jpeg,image/webp,image/gif,image/svg+xml"
          onChange={async (e) => {
            const file = (e.currentTarget as HTMLInputElement).files?.[0];
            setLogo(file ? await readDataUri(file) : undefined);
          }} />
      </Field>
      {v.logo ? (
        <label class="check">
          <input type="checkbox" name="remove_logo" checked={logo === null} onChange={(e) => setLogo((e.currentTarget as HTMLInputElement).checked ? null : undefined)} />
          {' '}Remove the logo
        </label>
      ) : null}
      <div class="actions">
        <button type="submit" class="btn primary" disabled={busy}>Save branding</button>
        <button type="button" class="btn" onClick={props.onCancel}>Cancel</button>
        <button type="button" class="btn danger" disabled={busy} onClick={reset}>Use the product's branding</button>
      </div>
    </form>
  );
}
