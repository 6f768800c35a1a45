import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GatewayConfigError, loadGatewaySettings } from './config.js';
import { createGateway } from './server.js';
import type { Gateway } from './server.js';

/**
 * `npm run gateway` / `tessera gateway`: configuration → gateway → listen,
 * and a graceful stop on SIGTERM/SIGINT (new requests refused, in-flight
 * requests finish, upstream connections closed). Returns the exit code.
 */
export async function runGateway(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let gateway: Gateway;
  try {
    gateway = createGateway(loadGatewaySettings(env));
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      process.stderr.write(`tessera gateway: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const address = await gateway.listen();
  gateway.log.info({ address }, 'Tessera gateway is listening');

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      gateway.log.info({ signal }, 'shutting down: finishing in-flight requests');
      gateway.close().then(done, (err: unknown) => {
        gateway.log.error({ err }, 'error during shutdown');
        done();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  gateway.log.info('gateway stopped');
  return 0;
}

// Run when this file is the entry point (`node packages/server/bin/run-ts.js packages/gateway/src/main.ts`),
// not when the CLI imports it.
const entry = process.argv[1];
if (entry && pathToFileURL(resolve(entry)).href === import.meta.url) {
  runGateway().then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`tessera gateway: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
