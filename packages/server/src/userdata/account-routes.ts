import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { verifyCsrf } from '../http/csrf.js';
import { esc, csrfInput, alert } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { eventContext, sendAccountPage, signedIn } from '../account/http.js';
import { registerCatalogue } from '../i18n/index.js';
import type { Catalogue } from '../i18n/index.js';
import type { AttributeDefinition, AttributeValue } from './model.js';
import { UserDataInvalid } from './service.js';

const catalogue: Catalogue = {
  en: {
    'userdata.tab': 'Details', 'userdata.title': 'Your details', 'userdata.lead': 'Information your organisation keeps about you.', 'userdata.none': 'Nothing here yet.',
    'userdata.read_only': 'Managed by {source}: you cannot change it here.', 'userdata.save': 'Save', 'userdata.saved': 'Your details were saved.',
    'userdata.invalid': 'This value is not valid.', 'userdata.yes': 'Yes', 'userdata.no': 'No',
  },
  de: {
    'userdata.tab': 'Angaben', 'userdata.title': 'Ihre Angaben', 'userdata.lead': 'Angaben, die Ihre Organisation über Sie speichert.', 'userdata.none': 'Noch keine Angaben.',
    'userdata.read_only': 'Verwaltet von {source}: Sie können es hier nicht ändern.', 'userdata.save': 'Speichern', 'userdata.saved': 'Ihre Angaben wurden gespeichert.',
    'userdata.invalid': 'Dieser Wert ist ungültig.', 'userdata.yes': 'Ja', 'userdata.no': 'Nein',
  },
};
registerCatalogue(catalogue);

const PATH = '/account/details';

/**
 * /account/details (docs/users.md#source-ownership): the attributes the
 * tenant shows to users (`account: read` or `edit`). Values a source owns
 * are shown read-only; `edit` attributes (never source-owned) are a form,
 * saved through the user-data service as the user (`self`), which refuses
 * anything else.
 */
export function userDetailsFeature(app: FastifyInstance, p: Platform): void {
  const deps = { sessions: p.accountSessions, secure: p.secureCookies };
  const html = { config: { html: true } };
  const visible = async (tenantId: string) => (await p.userData.definitions(tenantId)).filter((d) => d.account !== 'hidden');

  app.get(PATH, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    const { user } = page.account;
    const body = detailsBody(page.ctx, await visible(user.tenantId), (await p.userData.dataOf(user.id)).attributes, page.csrf,
      { saved: (request.query as { saved?: unknown }).saved === '1' });
    return sendAccountPage(reply, deps, page, PATH, page.ctx.t('userdata.title'), body);
  });

  app.post(PATH, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    const { user } = page.account;
    const defs = await visible(user.tenantId);
    const form = (request.body ?? {}) as Record<string, unknown>;
    // Only the editable attributes are read from the form; anything else posted is ignored.
    const attributes: Record<string, unknown> = {};
    for (const d of defs.filter((x) => x.account === 'edit' && !x.source)) {
      const raw = form[`attr_${d.name}`];
      if (typeof raw !== 'string') continue;
      attributes[d.name] = raw.trim() === '' ? null : fromForm(d, raw);
    }
    try {
      await p.userData.update({ admin: false, source: null, self: true }, user, { attributes });
    } catch (err) {
      if (!(err instanceof UserDataInvalid)) throw err;
      const body = detailsBody(page.ctx, defs, { ...(await p.userData.dataOf(user.id)).attributes }, page.csrf, { errors: err.fields });
      return sendAccountPage(reply, deps, page, PATH, page.ctx.t('userdata.title'), body, 400);
    }
    await p.events.emit({ type: 'user.updated', tenantId: user.tenantId, subjectId: user.id, context: eventContext(request, user.id), data: { attributes: Object.keys(attributes).sort(), via: 'account' } },
      (err) => p.log.error({ err }, 'event listener failed'));
    return reply.redirect(`${PATH}?saved=1`, 303);
  });
}

function fromForm(d: AttributeDefinition, raw: string): unknown {
  const v = raw.trim();
  if (d.type === 'number') return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  if (d.type === 'boolean') return v === 'true' ? true : v === 'false' ? false : v;
  if (d.type === 'string_list') return v.split(',').map((x) => x.trim()).filter(Boolean);
  return v;
}

function shown(ctx: PageContext, value: AttributeValue | undefined): string {
  if (value === undefined) return '—';
  if (typeof value === 'boolean') return ctx.t(value ? 'userdata.yes' : 'userdata.no');
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function detailsBody(ctx: PageContext, defs: AttributeDefinition[], values: Record<string, AttributeValue>, csrf: string,
  opts: { saved?: boolean; errors?: Record<string, string> } = {}): string {
  const { t } = ctx;
  const label = (d: AttributeDefinition) => esc(d.description ?? d.name);
  const readOnly = defs.filter((d) => d.account === 'read' || d.source);
  const editable = defs.filter((d) => d.account === 'edit' && !d.source);
  const input = (d: AttributeDefinition) => {
    const v = values[d.name];
    const text = v === undefined ? '' : Array.isArray(v) ? v.join(', ') : String(v);
    const error = opts.errors?.[`attributes.${d.name}`];
    const control = d.type === 'enum'
      ? `<select id="attr_${d.name}" name="attr_${d.name}"><option value=""></option>${(d.values ?? []).map((o) => `<option${o === v ? ' selected' : ''}>${esc(o)}</option>`).join('')}</select>`
      : d.type === 'boolean'
        ? `<select id="attr_${d.name}" name="attr_${d.name}"><option value=""></option><option value="true"${v === true ? ' selected' : ''}>${esc(t('userdata.yes'))}</option><option value="false"${v === false ? ' selected' : ''}>${esc(t('userdata.no'))}</option></select>`
        : `<input id="attr_${d.name}" name="attr_${d.name}" type="${d.type === 'date' ? 'date' : 'text'}" value="${esc(text)}">`;
    return `<div class="field"><label for="attr_${d.name}">${label(d)}</label>${control}${error ? `<p class="error">${esc(t('userdata.invalid'))}</p>` : ''}</div>`;
  };
  return `<h1>${esc(t('userdata.title'))}</h1>
<p class="lead">${esc(t('userdata.lead'))}</p>
${alert(opts.saved ? t('userdata.saved') : undefined, 'info')}
${defs.length ? '' : `<p>${esc(t('userdata.none'))}</p>`}
${readOnly.length ? `<dl>${readOnly.map((d) => `<dt>${label(d)}</dt><dd data-attribute="${esc(d.name)}">${esc(shown(ctx, values[d.name]))}${d.source ? `<br><span class="hint">${esc(t('userdata.read_only', { source: d.source }))}</span>` : ''}</dd>`).join('')}</dl>` : ''}
${editable.length ? `<form method="post" action="${PATH}" novalidate>${csrfInput(csrf)}${editable.map(input).join('')}<button type="submit">${esc(t('userdata.save'))}</button></form>` : ''}`;
}
