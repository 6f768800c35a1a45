import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/** Where pages load the passkey script from (a file, never inline: the CSP allows `script-src 'self'` only). */
export const PASSKEY_SCRIPT = '/assets/passkeys.js';

let cached: { body: string; etag: string } | undefined;

/**
 * The script: @simplewebauthn/browser's UMD bundle (defines the global
 * `SimpleWebAuthnBrowser`) followed by Tessera's glue (browser.js). Read once,
 * on first use, from the installed package, so it always matches the
 * server library's version.
 */
export function passkeyScript(): { body: string; etag: string } {
  if (!cached) {
    // The package's exports map hides dist/; its main entry sits in script/, next to dist/.
    const main = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
    const bundle = readFileSync(join(dirname(main), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
    const glue = readFileSync(new URL('./browser.js', import.meta.url), 'utf8');
    const body = `${bundle}\n;\n${glue}`;
    cached = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
  }
  return cached;
}

export function registerPasskeyAssets(app: FastifyInstance): void {
  app.get(PASSKEY_SCRIPT, async (request, reply) => {
    const { body, etag } = passkeyScript();
    reply.header('etag', etag).header('cache-control', 'public, max-age=3600');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/javascript; charset=utf-8').send(body);
  });
}
