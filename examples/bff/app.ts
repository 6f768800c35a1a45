import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createBff } from '../../packages/bff/src/index.js';
import type { BffConfig, BffDeps } from '../../packages/bff/src/index.js';

/**
 * The example's pages: one static HTML page, one stylesheet, one script. The
 * strict CSP (no inline script or style, same-origin fetches only) is what a
 * BFF makes possible: the page never talks to the platform or the API directly.
 */
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'",
  "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

const PUBLIC = new URL('./public/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Serves the example page on a BFF app (before it listens). */
export function registerExamplePages(app: FastifyInstance): void {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    // Read once at start: three small files.
    const body = readFileSync(new URL(file, PUBLIC));
    app.get(path, async (_req, reply) => reply
      .header('content-type', type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .header('cache-control', 'no-cache')
      .send(body));
  }
}

/** The BFF with the example page: what `npm run bff` serves. */
export function createExampleApp(config: BffConfig, deps: BffDeps = {}): FastifyInstance {
  const app = createBff(config, deps);
  registerExamplePages(app);
  return app;
}
