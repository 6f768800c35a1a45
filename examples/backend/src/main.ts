import { createBackend } from './server.js';

/**
 * Runs the example backend: `node packages/server/bin/run-ts.js examples/backend/src/main.ts`.
 * BACKEND_HOST defaults to loopback on purpose: this service trusts the
 * gateway's context headers, so only the gateway may be able to reach it.
 */
const port = Number(process.env.BACKEND_PORT ?? 4000);
const host = process.env.BACKEND_HOST ?? '127.0.0.1';
const secret = process.env.BACKEND_GATEWAY_SECRET || undefined;

const { app, log } = createBackend({ gatewaySecret: secret, logLevel: process.env.LOG_LEVEL ?? 'info' });
if (!secret) log.warn('BACKEND_GATEWAY_SECRET is not set: any process that can reach this port can claim any identity');
const address = await app.listen({ port, host });
log.info({ address }, 'example backend listening');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void app.close().then(() => log.info('stopped')));
}
