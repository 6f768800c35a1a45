import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** Where pages with new recovery codes load their copy button from (a file: the CSP allows no inline script). */
export const RECOVERY_CODES_SCRIPT = '/assets/recovery-codes.js';

/**
 * The copy button of a recovery-codes page. The button is `hidden` in the
 * HTML and shown only by this script, so a page without JavaScript never
 * offers a button that does nothing (its download link works without it).
 * The Clipboard API needs a secure context (https, or localhost); elsewhere
 * the codes are copied from a selected, off-screen text area.
 */
const SCRIPT = `(function () {
  'use strict';
  var button = document.getElementById('copy-recovery-codes');
  var list = document.getElementById('recovery-codes');
  if (!button || !list) return;
  var text = Array.prototype.map.call(list.querySelectorAll('code'), function (c) { return c.textContent; }).join('\\n') + '\\n';
  var status = document.getElementById('copy-recovery-codes-status');
  function done() { if (status) status.textContent = button.getAttribute('data-copied'); }
  function fallback() {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    try { if (document.execCommand('copy')) done(); } finally { area.remove(); }
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  });
})();
`;
const ETAG = `"${createHash('sha256').update(SCRIPT).digest('base64url').slice(0, 16)}"`;

export function registerRecoveryCodesScript(app: FastifyInstance): void {
  app.get(RECOVERY_CODES_SCRIPT, async (request, reply) => {
    reply.header('etag', ETAG).header('cache-control', 'public, max-age=3600');
    if (request.headers['if-none-match'] === ETAG) return reply.code(304).send();
    return reply.type('text/javascript; charset=utf-8').send(SCRIPT);
  });
}
