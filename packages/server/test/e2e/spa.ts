import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort } from '../helpers/app.js';

/**
 * A single-page app on its own origin (`http://localhost:<port>`, so its
 * storage and cookies never mix with Tessera's on 127.0.0.1) that loads the
 * real oidc-client-ts browser build: the relying party of the Chromium
 * sign-in tests. The page holds the elements the tests read (`#user`, …) and
 * `/app.js`, the test's own script, which `app` renders once the app's URL is known.
 */
const require = createRequire(import.meta.url);
const LIBRARY = readFileSync(join(dirname(require.resolve('oidc-client-ts')), '..', 'browser', 'oidc-client-ts.min.js'));

export interface Spa {
  url: string;
  close(): Promise<void>;
}

/** Reserves the SPA's address first: the platform's client configuration needs its redirect URI. */
export async function spaAddress(): Promise<{ port: number; url: string }> {
  const port = await freePort();
  return { port, url: `http://localhost:${port}` };
}

/** Serves the page, the library and `app(url)` as /app.js on the reserved address. */
export async function startSpa(address: { port: number; url: string }, page: { elements: string[]; app: (url: string) => string }): Promise<Spa> {
  const html = `<!doctype html><title>SPA</title>${page.elements.map((id) => `<p id="${id}"></p>`).join('')}`
    + '<script src="/oidc-client-ts.min.js"></script><script src="/app.js"></script>';
  const app = page.app(address.url);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/oidc-client-ts.min.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(LIBRARY);
    if (path === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(app);
    return res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((r) => server.listen(address.port, '127.0.0.1', r));
  return { url: address.url, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * The app of the sign-in tests: client `spa-ts` (public, PKCE), `app.login()`
 * starts the sign-in; once back, `#user` shows the profile claim `userClaim`
 * (or "signed out"), `#roles` the roles, `#error` what went wrong.
 */
export function rolesApp(issuer: string, userClaim: 'email' | 'preferred_username'): (url: string) => string {
  return (origin) => `
const mgr = new oidc.UserManager({
  authority: ${JSON.stringify(issuer)}, client_id: 'spa-ts', redirect_uri: ${JSON.stringify(`${origin}/callback`)},
  scope: 'openid profile email roles', loadUserInfo: true,
});
const out = (k, v) => { document.getElementById(k).textContent = typeof v === 'string' ? v : JSON.stringify(v); };
window.app = { login: () => mgr.signinRedirect() };
(async () => {
  try {
    if (location.pathname === '/callback') { await mgr.signinRedirectCallback(); history.replaceState(null, '', '/'); }
    const user = await mgr.getUser();
    out('user', user ? user.profile[${JSON.stringify(userClaim)}] : 'signed out');
    if (user) out('roles', user.profile.roles ?? []);
  } catch (e) { out('error', String(e)); }
})();
`;
}
