import type { ComponentChildren, ComponentType, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { accessToken, completeSignIn, currentUser, setWho, signIn, signOut, whoIs } from './auth';
import type { Who } from './auth';
import { ApiError, abandonPending, replayPending } from './api';
import type { ReplayReport } from './api';
import { Link, currentPath, matchRoute, navigate, useRoute } from './router';
import { ErrorBox, Notice, Page } from './ui';
import { Home } from './views/home';
import { UserCreate, UsersList } from './views/users';
import { UserDetail } from './views/users-detail';
import { TenantDetail, TenantsList } from './views/tenants';
import { ClientCreate, ClientDetail, ClientsList } from './views/clients';
import { PartnerOnboard } from './views/clients-partner';
import { ApiCreate, ApiDetail, ApisList } from './views/apis';
import { KeysView } from './views/keys';
import { AuditView } from './views/audit';
import { ApiTokensView } from './views/api-tokens';
import { WebhookDetail, WebhooksList } from './views/webhooks';
import { IdentityProvidersView } from './views/identity-providers';

type View = ComponentType<{ params: Record<string, string> }>;

/** The route table: first match wins (so '/users/new' before '/users/:id'). */
const ROUTES: Array<[string, View]> = [
  ['/', Home],
  ['/users', UsersList],
  ['/users/new', UserCreate],
  ['/users/:id', UserDetail],
  ['/tenants', TenantsList],
  ['/tenants/:tenant', TenantDetail],
  ['/clients', ClientsList],
  ['/clients/new', ClientCreate],
  ['/clients/partner', PartnerOnboard],
  ['/clients/:id', ClientDetail],
  ['/apis', ApisList],
  ['/apis/new', ApiCreate],
  ['/apis/:identifier', ApiDetail],
  ['/keys', KeysView],
  ['/api-tokens', ApiTokensView],
  ['/webhooks', WebhooksList],
  ['/webhooks/:id', WebhookDetail],
  ['/identity-providers', IdentityProvidersView],
  ['/audit', AuditView],
];

const NAV: Array<[string, string]> = [
  ['/', 'Home'],
  ['/users', 'Users'],
  ['/tenants', 'Tenants'],
  ['/clients', 'Clients'],
  ['/apis', 'APIs'],
  ['/keys', 'Signing keys'],
  ['/identity-providers', 'Identity providers'],
  ['/api-tokens', 'API tokens'],
  ['/webhooks', 'Webhooks'],
  ['/audit', 'Audit log'],
];

type Phase =
  | { kind: 'loading'; message: string }
  | { kind: 'ready'; who: Who }
  | { kind: 'error'; error: unknown };

/**
 * The shell: signs in (or completes the sign-in on /callback and replays a
 * step-up operation), then renders the layout and the matched view.
 */
export function App(): JSX.Element {
  const route = useRoute();
  const [phase, setPhase] = useState<Phase>({ kind: 'loading', message: 'Signing in…' });
  // A replay's report is shown on the page it came back to, until dismissed or the person moves on.
  const [report, setReport] = useState<{ report: ReplayReport; path: string } | undefined>();

  useEffect(() => {
    let live = true;
    boot().then(
      (out) => {
        if (!live || !out) return;
        setWho(out.who);
        if (out.report && !out.report.replayKey) setReport({ report: out.report, path: currentPath() });
        setPhase({ kind: 'ready', who: out.who });
      },
      (error: unknown) => {
        if (live) setPhase({ kind: 'error', error });
      },
    );
    return () => {
      live = false;
    };
  }, []);

  if (phase.kind === 'loading') {
    return <main class="boot"><p class="muted" role="status">{phase.message}</p></main>;
  }
  if (phase.kind === 'error') {
    return (
      <main class="boot">
        <Page title="Sign-in failed">
          <ErrorBox error={phase.error} />
          <div class="actions">
            <button type="button" class="btn primary" onClick={() => void signIn({ returnTo: '/' })}>Sign in again</button>
          </div>
        </Page>
      </main>
    );
  }
  return (
    <Layout who={phase.who} path={route.path}>
      {report && report.path === route.path ? <ReplayNotice report={report.report} onClose={() => setReport(undefined)} /> : null}
      <Routed path={route.path} />
    </Layout>
  );
}

/** Signs in, or finishes a sign-in; undefined while the browser is leaving for the sign-in page. */
async function boot(): Promise<{ who: Who; report?: ReplayReport } | undefined> {
  if (currentPath() === '/callback') {
    let done: Awaited<ReturnType<typeof completeSignIn>>;
    try {
      done = await completeSignIn();
    } catch (err) {
      // A step-up cancelled or refused on the platform's pages: back to where the person was, still
      // signed in with the earlier tokens, and told that the operation was not done.
      const pending = abandonPending();
      const user = pending ? await currentUser() : null;
      if (!pending || !user || !(await accessToken())) throw err;
      navigate(pending.returnTo, { replace: true });
      const error = err instanceof Error ? err : new Error(String(err));
      const outcome = new ApiError(0, 'step_up_not_completed', `The sign-in answered: ${error.message}`);
      return { who: whoIs(user), report: { method: pending.method, path: pending.path, outcome } };
    }
    const { user, returnTo, stepUp } = done;
    // After a step-up, the operation that asked for it is replayed once (dropped if stale).
    const replay = await replayPending(stepUp);
    navigate(replay?.returnTo ?? returnTo, { replace: true });
    return { who: whoIs(user), ...(replay ? { report: replay.report } : {}) };
  }
  const user = await currentUser();
  if (!user) {
    await signIn();
    return undefined;
  }
  if (!(await accessToken())) {
    await signIn();
    return undefined;
  }
  return { who: whoIs(user) };
}

function Routed(props: { path: string }): JSX.Element {
  for (const [pattern, View] of ROUTES) {
    const params = matchRoute(pattern, props.path);
    if (params) return <View key={pattern} params={params} />;
  }
  return (
    <Page title="Not found">
      <p>There is no page at <code>{props.path}</code>.</p>
      <p><Link href="/">Go to the start page</Link></p>
    </Page>
  );
}

function Layout(props: { who: Who; path: string; children: ComponentChildren }): JSX.Element {
  const [menuOpen, setMenuOpen] = useState(false);
  // A navigation closes the phone menu.
  useEffect(() => setMenuOpen(false), [props.path]);
  const section = (href: string) => (href === '/' ? props.path === '/' : props.path === href || props.path.startsWith(`${href}/`));
  return (
    <div class={menuOpen ? 'layout menu-open' : 'layout'}>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="topbar">
        <button
          type="button"
          class="btn menu-toggle"
          aria-expanded={menuOpen ? 'true' : 'false'}
          aria-controls="main-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <Link href="/" class="brand">Tessera <span class="brand-sub">console</span></Link>
        <div class="who" aria-label="Signed in as">
          <span class="who-name" data-testid="who-name">{props.who.name}</span>
          {props.who.username && props.who.username !== props.who.name ? <span class="who-user muted">@{props.who.username}</span> : null}
          {props.who.tenant ? <span class="badge tenant" data-testid="who-tenant" title="Your tenant">{props.who.tenant}</span> : null}
        </div>
        <button type="button" class="btn sign-out" onClick={() => void signOut()}>Sign out</button>
      </header>
      <nav id="main-nav" class="nav" aria-label="Main">
        <ul>
          {NAV.map(([href, label]) => (
            <li key={href}>
              <Link href={href} class={section(href) ? 'nav-link active' : 'nav-link'}>{label}</Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        {props.children}
      </main>
    </div>
  );
}

/** A replayed operation no view claimed: say it happened (or why not). */
function ReplayNotice(props: { report: ReplayReport; onClose(): void }): JSX.Element {
  const { report } = props;
  const close = <button type="button" class="btn small" onClick={props.onClose}>Dismiss</button>;
  if (report.outcome instanceof ApiError && report.outcome.code === 'step_up_not_completed') {
    return (
      <div class="alert warning replay-notice" role="alert">
        <strong>Not done: the multi-factor confirmation was cancelled</strong>
        <p><code>{report.method} {report.path}</code> needs a recent multi-factor sign-in. Nothing was changed; try again when you are ready.</p>
        <p class="muted small">{report.outcome.description}</p>
        {close}
      </div>
    );
  }
  if (report.outcome instanceof ApiError) {
    return (
      <div class="replay-notice">
        <p>After your multi-factor sign-in, <code>{report.method} {report.path}</code> was tried again and failed:</p>
        <ErrorBox error={report.outcome} />
        {close}
      </div>
    );
  }
  return (
    <Notice kind="success">
      Confirmed with your multi-factor sign-in: <code>{report.method} {report.path}</code> is done. {close}
    </Notice>
  );
}
