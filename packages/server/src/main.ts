import { loadSettings } from './config/load.js';
import { ConfigError } from './config/errors.js';
import { createApp } from './app.js';
import type { TesseraApp } from './app.js';

/**
 * `tessera serve` / `npm start`: configuration → app → listen, and a graceful
 * stop on SIGTERM/SIGINT (in-flight requests finish, new ones are refused).
 */
export async function serve(): Promise<number> {
  let app: TesseraApp;
  try {
    const settings = loadSettings();
    app = await createApp(settings);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tessera: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const address = await app.listen();
  const issuer = app.provider().issuer;
  app.log.info({ address, issuer }, 'Tessera is listening');
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
