/* global document, window */
// The example's only script (CSP: script-src 'self', no inline code). It talks
// to its own origin only: /bff/user for who is signed in and the CSRF token,
// /api/* for the API (the BFF adds the access token), /bff/logout to sign out.

const $ = (id) => document.getElementById(id);
let csrfToken = '';

function showSignedIn(user) {
  csrfToken = user.csrf_token;
  $('who').textContent = user.claims.name || user.claims.preferred_username || user.sub;
  $('signed-in').hidden = false;
  $('signed-out').hidden = true;
}

function showSignedOut(message) {
  csrfToken = '';
  $('status').textContent = message;
  $('signed-in').hidden = true;
  $('signed-out').hidden = false;
}

async function show(res) {
  const text = await res.text();
  $('output').textContent = `${res.status}\n${text}`;
  // The BFF ended the session (refresh token expired or revoked): sign in again.
  if (res.status === 401 && text.includes('login_required')) showSignedOut('Your session has ended. Please sign in again.');
}

async function loadUser() {
  const res = await fetch('/bff/user', { headers: { accept: 'application/json' } });
  if (res.ok) showSignedIn(await res.json());
  else showSignedOut('You are not signed in.');
}

$('call-api').addEventListener('click', async () => {
  await show(await fetch('/api/hello', { headers: { accept: 'application/json' } }));
});

$('write-api').addEventListener('click', async () => {
  await show(await fetch('/api/items', {
    method: 'POST',
    // The CSRF token from /bff/user: without it the BFF refuses any write with 403.
    headers: { accept: 'application/json', 'content-type': 'application/json', 'x-bff-csrf': csrfToken },
    body: JSON.stringify({ name: 'example item', at: new Date().toISOString() }),
  }));
});

$('sign-out').addEventListener('click', async () => {
  const res = await fetch('/bff/logout', { method: 'POST', headers: { accept: 'application/json', 'x-bff-csrf': csrfToken } });
  if (!res.ok) return show(res);
  // The local session is gone; the platform ends its own session and comes back here.
  const { redirect } = await res.json();
  window.location.assign(redirect);
});

loadUser().catch((err) => showSignedOut(`Could not reach the BFF: ${err.message}`));
