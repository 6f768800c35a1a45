import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../http/errors.js';
import type { Platform } from '../platform.js';
import { esc, layout, pageContext, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { OutboxMessage } from './outbox.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * True only for a request made on this machine, directly: the TCP peer is
 * loopback and no proxy header is present. A reverse proxy on the same host
 * also connects from loopback, and with trustProxy a client can forge
 * X-Forwarded-For, so neither the peer nor `request.ip` alone would do.
 */
export function isLocalRequest(request: FastifyRequest): boolean {
  const peer = request.raw.socket.remoteAddress ?? '';
  const h = request.headers;
  return LOOPBACK.has(peer) && LOOPBACK.has(request.ip) && !h['x-forwarded-for'] && !h.forwarded && !h['x-real-ip'];
}

/**
 * GET /dev/outbox: the development outbox (mail and SMS stored when no SMTP
 * server is configured, and SMS), newest first, with clickable links. It exists only
 * while mail or SMS goes to the outbox, and only for requests from this machine:
 * the messages hold live confirmation and reset links. Anything else is 404,
 * so the page does not even reveal that it exists.
 */
export function outboxFeature(app: FastifyInstance, p: Platform): void {
  app.get('/dev/outbox', { config: { html: true } }, async (request, reply) => {
    // Available while either channel uses the outbox (mail without SMTP_URL, SMS without SMS_PROVIDER).
    if ((p.mailer.kind !== 'outbox' && p.sms.kind !== 'outbox') || !isLocalRequest(request)) throw new AppError('not_found', 404, 'Not found.');
    const ctx = pageContext(request);
    return sendPage(reply, outboxPage(ctx, await p.outbox.list(100)));
  });
}

function outboxPage(ctx: PageContext, messages: OutboxMessage[]): string {
  const items = messages.map((m) => `<article class="outbox">
  <h2>${esc(m.subject)}</h2>
  <p class="hint">${esc(m.channel)} · ${esc(m.recipient)} · <time datetime="${new Date(m.at).toISOString()}">${esc(new Date(m.at).toISOString())}</time></p>
  <pre>${linkify(m.body)}</pre>
</article>`).join('\n');
  return layout(ctx, 'Development outbox', `
<h1>Development outbox</h1>
<p class="lead">Mail and SMS Tessera would have sent to a provider (mail: when no SMTP_URL is set; SMS: when no SMS_PROVIDER is set). Newest first; only shown on this machine.</p>
${items || '<p>No messages yet.</p>'}`, { wide: true });
}

/** Escapes the text and turns http(s) URLs into links (the href is escaped as well: bodies may hold user input). */
function linkify(text: string): string {
  const parts: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    parts.push(esc(text.slice(last, m.index)), `<a href="${esc(m[0])}">${esc(m[0])}</a>`);
    last = m.index + m[0].length;
  }
  parts.push(esc(text.slice(last)));
  return parts.join('');
}
