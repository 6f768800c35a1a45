import { loadSettings } from './config/load.js';
import type { Settings } from './config/load.js';
import { checkPortFree, checkStoreReachable, reportStartupFailure } from './startup/checks.js';
import { portProblem } from './startup/errors.js';
import { unknownTesseraVariables } from './config/env-hints.js';
import { createApp } from './app.js';
import type { TesseraApp } from './app.js';

/**
 * `tessera serve` / `npm start`: configuration → app → listen, and a graceful
 * stop on SIGTERM/SIGINT (in-flight requests finish, new ones are refused).
 */
export async function serve(): Promise<number> {
  let app: TesseraApp;
  let settings: Readonly<Settings> | undefined;
  let address: string;
  try {
    settings = loadSettings();
    for (const hint of unknownTesseraVariables(process.env)) process.stderr.write(`tessera: warning: ${hint}\n`);
    // Before anything is written: the port and the database (startup/checks.ts).
    await checkPortFree(settings.host, settings.port);
    await checkStoreReachable(settings.databaseUrl);
    app = await createApp(settings);
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
  if (settings.configFile) {
    const { created, updated, unchanged } = app.configApplied;
    app.log.info({ file: settings.configFile, created, updated, unchanged }, `config applied: ${created} created, ${updated} updated, ${unchanged} unchanged`);
  }
  app.log.info({ address, issuer: app.provider().issuer }, 'Tessera is listening');
  const issuer = app.provider().issuer;
  const admin = app.bootstrapped.admin;
  if (admin) {
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

  await new Promise<void>((resolve) => {
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
  return 0;
}
