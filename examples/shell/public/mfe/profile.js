// The profile micro-frontend: a user card in the shell's header, the profile
// page, and sign-up (through the BFF's public route to Tessera's registration
// API, so a signed-out visitor can create an account without leaving the portal).
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
};
const displayName = (state) => String(state.claims.name ?? state.claims.preferred_username ?? state.sub ?? '');

/** The header card: who is signed in, and sign in / sign out. Renders from the shared state. */
export function mountCard(root, { tessera }) {
  return tessera.subscribe((state) => {
    if (state.status === 'authenticated') {
      root.replaceChildren(
        h('span', { class: 'who', 'data-user': state.sub }, displayName(state)),
        h('button', { type: 'button', id: 'sign-out', onclick: () => void tessera.logout() }, 'Sign out'));
    } else if (state.status === 'unauthenticated') {
      root.replaceChildren(
        h('span', { class: 'who muted', 'data-user': '' }, 'Signed out'),
        h('button', { type: 'button', id: 'sign-in', onclick: () => void tessera.login() }, 'Sign in'),
        h('a', { href: '#/profile/register' }, 'Create an account'));
    } else {
      root.replaceChildren(h('span', { class: 'muted' }, state.status === 'error' ? 'Session unavailable' : '…'));
    }
  });
}

export async function mount(root, { tessera, route }) {
  if (route.path[0] === 'register') return mountRegistration(root);
  const view = h('section', { class: 'mfe', 'data-mfe': 'profile' });
  root.replaceChildren(view);
  const off = tessera.subscribe((state) => {
    if (state.status !== 'authenticated') {
      view.replaceChildren(h('p', { class: 'muted', 'data-state': 'signed-out' }, 'You are signed out.'));
      return;
    }
    const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    view.replaceChildren(h('h1', {}, displayName(state)), h('dl', { class: 'profile' },
      ...row('Email', String(state.claims.email ?? '')),
      ...row('Tenant', state.tenant ?? ''),
      ...row('Roles', state.roles.join(', ') || 'none'),
      ...row('Scopes', state.scopes.join(' ')),
      ...row('Signed in with', `${state.amr.join(' + ')} (${state.acr ?? 'unknown level'})`),
      ...row('Second factor', state.mfa.enrolled === null ? 'unknown' : state.mfa.enrolled ? 'set up' : 'not set up'),
      ...row('MFA required here', state.mfa.required === null ? 'unknown' : state.mfa.required ? 'yes' : 'no')));
  });
  return { unmount: off };
}

/** Sign-up through `/bff/public/register` (Tessera's registration API; no session involved). */
function mountRegistration(root) {
  const note = h('p', { id: 'register-outcome', role: 'status' });
  const email = h('input', { type: 'email', name: 'email', id: 'reg-email', autocomplete: 'email', required: '' });
  const password = h('input', { type: 'password', name: 'password', id: 'reg-password', autocomplete: 'new-password', required: '', minlength: '8' });
  const form = h('form', { class: 'register', novalidate: '' },
    h('label', { for: 'reg-email' }, 'Email'), email,
    h('label', { for: 'reg-password' }, 'Password'), password,
    h('button', { type: 'submit' }, 'Create account'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    note.textContent = 'Creating…';
    const res = await fetch('/bff/public/register', {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email: email.value, password: password.value }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.status === 201) {
      note.textContent = 'Account created. You can sign in now.';
      note.dataset.state = 'created';
    } else {
      const fields = body.fields ? ` (${Object.entries(body.fields).map(([k, v]) => `${k}: ${v}`).join('; ')})` : '';
      note.textContent = `${body.error_description ?? 'Registration failed.'}${fields}`;
      note.dataset.state = 'failed';
    }
  });
  root.replaceChildren(h('section', { class: 'mfe', 'data-mfe': 'register' }, h('h1', {}, 'Create an account'), form, note));
  return {};
}
