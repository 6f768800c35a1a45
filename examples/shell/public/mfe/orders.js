// The orders micro-frontend: one order with tabs, and a payout that needs a
// second factor (the API answers with an RFC 9470 step-up; the SDK signs the
// user in again and replays the payout once, back on this exact page).
const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
};

export async function mount(root, { tessera, route }) {
  await tessera.whenAuthenticated();
  const view = h('section', { class: 'mfe', 'data-mfe': 'orders' });
  root.replaceChildren(view);
  let stopped = false;
  // The last payout's outcome, kept across re-renders ({ text, state }).
  let payoutNote = null;
  // Only the latest render may write to the page (renders fetch, and can finish out of order).
  let generation = 0;

  const render = async () => {
    if (stopped) return;
    const mine = ++generation;
    const stale = () => stopped || mine !== generation;
    if (tessera.state.status !== 'authenticated') {
      view.replaceChildren(h('p', { class: 'muted', 'data-state': 'signed-out' }, 'You are signed out.'));
      return;
    }
    if (!tessera.hasRole('orders')) {
      view.replaceChildren(h('div', { class: 'notice', 'data-state': 'not-authorized' },
        h('h1', {}, 'Not authorized'), h('p', {}, 'Your account has no access to orders. Ask an administrator for the "orders" role.')));
      return;
    }
    const id = route.path[0];
    if (!id) return renderList(stale);
    const res = await tessera.fetch(`/api/orders/${encodeURIComponent(id)}`);
    if (stale()) return;
    if (!res.ok) {
      view.replaceChildren(h('p', { class: 'error' }, `Could not load order ${id} (${res.status}).`));
      return;
    }
    const { order } = await res.json();
    if (stale()) return;
    const tab = route.query.get('tab') === 'history' ? 'history' : 'details';
    const tabs = h('nav', { class: 'tabs' },
      h('a', { href: `#/orders/${order.id}`, ...(tab === 'details' ? { 'aria-current': 'page' } : {}) }, 'Details'),
      h('a', { href: `#/orders/${order.id}?tab=history`, ...(tab === 'history' ? { 'aria-current': 'page' } : {}) }, 'History'));
    const body = tab === 'history'
      ? h('ol', { class: 'history', 'data-tab': 'history' }, ...order.history.map((e) => h('li', {}, `${e.at.slice(0, 16).replace('T', ' ')} ${e.event}`)))
      : h('dl', { 'data-tab': 'details' }, h('dt', {}, 'Customer'), h('dd', {}, order.customer), h('dt', {}, 'Total'), h('dd', {}, order.total.toFixed(2)), h('dt', {}, 'Status'), h('dd', {}, order.status));
    const outcome = h('p', { id: 'payout-outcome', role: 'status', ...(payoutNote ? { 'data-state': payoutNote.state } : {}) }, payoutNote?.text ?? '');
    const payout = h('button', { type: 'button', id: 'payout', onclick: () => void pay(order.id, outcome) }, 'Pay out 10.00');
    view.replaceChildren(h('h1', {}, `Order ${order.id}`), tabs, body, tessera.hasRole('payouts') ? payout : '', outcome);
  };

  const renderList = async (stale) => {
    const res = await tessera.fetch('/api/orders');
    if (stale()) return;
    if (!res.ok) {
      view.replaceChildren(h('p', { class: 'error' }, `Could not load orders (${res.status}).`));
      return;
    }
    const { orders } = await res.json();
    if (stale()) return;
    view.replaceChildren(h('h1', {}, 'Orders'), h('ul', { class: 'orders' },
      ...orders.map((o) => h('li', {}, h('a', { href: `#/orders/${o.id}` }, `Order ${o.id}`), ` ${o.customer}, ${o.status}`))));
  };

  const showPayout = async (res) => {
    if (res.status === 201) {
      const { payout } = await res.json();
      payoutNote = { text: `Payout of ${payout.amount.toFixed(2)} on order ${payout.order} done.`, state: 'paid' };
    } else {
      payoutNote = { text: `Payout refused (${res.status}).`, state: 'refused' };
    }
    const outcome = view.querySelector('#payout-outcome');
    if (outcome) {
      outcome.textContent = payoutNote.text;
      outcome.dataset.state = payoutNote.state;
    }
  };

  const pay = async (orderId, outcome) => {
    outcome.textContent = 'Paying out…';
    delete outcome.dataset.state;
    // Named, so this page can pick up the answer if a step-up sign-in comes first.
    const res = await tessera.fetch('/api/payouts', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: orderId, amount: 10 }), replayKey: 'payout',
    });
    await showPayout(res);
  };

  const off = tessera.subscribe(() => void render());
  // Back from a step-up: the payout was sent again once; show how it went.
  const replayed = await tessera.takeReplayed('payout');
  if (replayed) await showPayout(replayed);
  return { unmount: () => { stopped = true; off(); } };
}
