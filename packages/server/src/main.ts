import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { loadSettings, preloadYaml } from './config/load.js';
import { parseWorkers, servePrimary, workerCount } from './cluster.js';
import type { Settings } from './config/load.js';
import { checkPortFree, checkStoreReachable, reportStartupFailure } from './startup/checks.js';
import { portProblem } from './startup/errors.js';
import { unknownTesseraVariables } from './config/env-hints.js';
import { createApp } from './app.js';
import type { TesseraApp } from './app.js';

/**
 * `tessera serve [--workers N|auto]` / `npm start`: configuration → app →
 * listen, and a graceful stop on SIGTERM/SIGINT (/readyz turns 503, in-flight
 * requests finish, new ones are refused). With more than one worker
 * (TESSERA_WORKERS or --workers) this process is the primary of a node:cluster
 * (cluster.ts) and the workers serve.
 */
export async function serve(argv: string[] = []): Promise<number> {
  let app: TesseraApp;
  let settings: Readonly<Settings> | undefined;
  let address: string;
  try {
    const { values } = parseArgs({ args: argv, options: { workers: { type: 'string' } }, strict: true });
    // The YAML parser from the bundle rather than through Node's CommonJS loader (config/load.ts); a `.json`
    // file is read without it (config/strict-json.ts), which loads it only if the file is not plain JSON after all.
    if (process.env.TESSERA_CONFIG && !/\.json$/i.test(process.env.TESSERA_CONFIG)) await preloadYaml();
    settings = loadSettings(process.env, values.workers === undefined ? {} : { workers: parseWorkers(values.workers) });
    if (cluster.isWorker) return await serveWorker(settings);
    const workers = workerCount(settings.workers);
    for (const hint of unknownTesseraVariables(process.env)) process.stderr.write(`tessera: warning: ${hint}\n`);
    // Before anything is written: the port and the database (startup/checks.ts).
    await checkPortFree(settings.host, settings.port);
    await checkStoreReachable(settings.databaseUrl);
    app = await createApp(settings);
    if (workers > 1) {
      // The primary has migrated, bootstrapped and applied the file; the workers serve.
      announce(app, settings);
      await app.close();
      return await servePrimary(settings, workers);
    }
  } catch (err) {
    const code = reportStartupFailure(err, settings?.databaseUrl);
    if (code === undefined) throw err;
    return code;
  }
  try {
    address = await app.listen();
  } catch (err) {
    // Taken between the check and now (another process was quicker).
    await app.close().catch(() => {});
    const code = reportStartupFailure(portProblem(err, settings.host, settings.port) ?? err, settings.databaseUrl);
    if (code === undefined) throw err;
    return code;
  }
  announce(app, settings);
  // Last, so that whoever waits for it (an operator, a supervisor, a test reading the output) has everything before it.
  app.log.info({ address, issuer: app.provider().issuer }, 'Tessera is listening');
  await untilSignal(app);
  return 0;
}

/** The file's summary, and once, on the terminal only, how to sign in for the first time. */
function announce(app: TesseraApp, settings: Readonly<Settings>): void {
  if (settings.configFile) {
    const { created, updated, unchanged } = app.configApplied;
    app.log.info({ file: settings.configFile, created, updated, unchanged }, `config applied: ${created} created, ${updated} updated, ${unchanged} unchanged`);
  }
  const issuer = app.provider().issuer;
  const admin = app.bootstrapped.admin;
  if (admin) {
    // The log holds its lines while serving (http/log-destination.ts): written first, they stay before this.
    app.log.flush();
    // Printed once, to the terminal only (never to the JSON log): how to sign in for the first time.
    process.stdout.write([
      '',
      '  Tessera created the first administrator.',
      `  Sign in at ${issuer}/account`,
      `  (the admin console: ${issuer}/admin/)`,
      `    username: ${admin.username}`,
      admin.generated ? `    password: ${admin.password}` : '    password: (the value of TESSERA_BOOTSTRAP_ADMIN_PASSWORD)',
      '  This password is shown only this once.',
      '',
    ].join('\n') + '\n');
  }
}

/** Waits for SIGTERM/SIGINT, then stops gracefully (app.close: readiness first, in-flight requests finish). */
function untilSignal(app: TesseraApp): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      app.close().then(resolve, (err) => {
        app.log.error({ err }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** A worker of `serve --workers N`: the app on the shared port; the primary is told once it listens. */
async function serveWorker(settings: Readonly<Settings>): Promise<number> {
  const app = await createApp(settings, { worker: true });
  const address = await app.listen();
  app.log.info({ address, worker: cluster.worker?.id }, 'worker listening');
  process.send?.({ tessera: 'listening', address });
  await untilSignal(app);
  // The IPC channel to the primary would keep the process alive.
  cluster.worker?.disconnect();
  return 0;
}
