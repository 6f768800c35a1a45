import type { FastifyInstance } from 'fastify';
import type { Store } from '../storage/database.js';
import type { Metrics } from './metrics.js';
import { homePage, STYLESHEET } from '../interaction/views.js';
import { pageContext } from '../web/layout.js';

export interface OpsDeps {
  store: Store;
  metrics: Metrics;
  issuer: string;
  csp: string;
  /** Where the home page's "Create an account" leads, when registration is open. */
  registerUrl?: () => Promise<string | undefined>;
  /** True once the process is shutting down: /readyz says 503 so a balancer stops sending requests. */
  draining?: () => boolean;
}

/** Home page, stylesheet, health, readiness and metrics. */
export function registerOpsRoutes(app: FastifyInstance, deps: OpsDeps): void {
  app.get('/', { config: { html: true } }, async (request, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', deps.csp)
      .send(homePage(pageContext(request), deps.issuer, await deps.registerUrl?.())));

  app.get('/assets/tessera.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET));

  // Liveness: the process answers. Never touches the store, so a slow database does not get the process killed.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Readiness: not shutting down, the store answers (within READY_TIMEOUT_MS) and every migration has run.
  // While the database is unreachable this says 503, so a balancer stops sending traffic; it says 200 again once it is back.
  app.get('/readyz', async (_request, reply) => {
    const reason = deps.draining?.() ? 'shutting_down' : await deps.store.readiness();
    reply.header('cache-control', 'no-store');
    return reason ? reply.code(503).send({ status: 'not_ready', reason }) : reply.code(200).send({ status: 'ready' });
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
}
