// The portal shell: reads the session once (browser SDK), routes on the hash,
// and mounts micro-frontends. Each micro-frontend is its own ES module with
// `mount(element, context)`; they share the page's one SDK session.
import { getTessera } from '/sdk/tessera.js';

const tessera = getTessera();
const main = document.getElementById('main');
const card = document.getElementById('user-card');

/** `#/orders/7?tab=history` → { app: 'orders', path: ['7'], query: URLSearchParams('tab=history') } */
function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const [app = '', ...rest] = path.split('/').filter(Boolean);
  return { app: app || 'orders', path: rest, query: new URLSearchParams(query) };
}

/** Routes anyone may open signed out (registration lives in the profile micro-frontend). */
const PUBLIC = (r) => r.app === 'profile' && r.path[0] === 'register';

let current;
async function show() {
  const r = route();
  for (const a of document.querySelectorAll('[data-nav]')) a.toggleAttribute('aria-current', a.dataset.nav === r.app);
  if (!PUBLIC(r)) {
    // Signed out: sign in first and come back exactly here. No protected call is made before.
    await tessera.whenAuthenticated({ signIn: true });
  }
  current?.unmount?.();
  const mfe = await import(`/mfe/${r.app === 'profile' ? 'profile' : 'orders'}.js`);
  current = await mfe.mount(main, { tessera, route: r });
}

// The user card (a second micro-frontend instance) is always there, rendering from the shared state.
const profile = await import('/mfe/profile.js');
profile.mountCard(card, { tessera });

await tessera.init();
window.addEventListener('hashchange', () => void show());
await show();
