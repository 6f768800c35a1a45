import { createServer } from 'node:net';
import { sql } from 'kysely';
import pino from 'pino';
import { openStore } from '../storage/database.js';
import { ConfigError } from '../config/errors.js';
import { StartupError, portProblem, storeProblem } from './errors.js';

/**
 * Start-up checks that run before anything is written (issue 19): a port in
 * use or a database that cannot be reached stops `serve` before migrations,
 * key generation or the first administrator, whose password would otherwise
 * be created and never shown.
 */

/** Binds host:port for a moment. @throws StartupError when it cannot be bound. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return; // an ephemeral port is always free
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(portProblem(err, host, port) ?? err));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Opens the store and asks it one question. @throws StartupError when it cannot be reached. */
export async function checkStoreReachable(databaseUrl: string): Promise<void> {
  try {
    const store = openStore(databaseUrl);
    try {
      await sql`select 1`.execute(store.db);
    } finally {
      await store.close().catch(() => {});
    }
  } catch (err) {
    throw storeProblem(err, databaseUrl) ?? err;
  }
}

/**
 * Prints a start-up failure an operator can fix as one line (`tessera: …`)
 * and its full detail to the debug log (LOG_LEVEL=debug); returns the exit
 * code 1. Returns undefined for anything else, which the caller rethrows:
 * an unexpected error keeps its stack trace.
 */
export function reportStartupFailure(err: unknown, databaseUrl?: string, write: (line: string) => void = (l) => process.stderr.write(l)): number | undefined {
  const known = err instanceof ConfigError || err instanceof StartupError ? err : databaseUrl ? storeProblem(err, databaseUrl) : undefined;
  if (!known) return undefined;
  write(`tessera: ${known.message}\n`);
  // The original error (driver, socket, file system), with its stack, for whoever needs more than the line.
  debugLog().debug({ err: known.cause ?? err }, 'start-up failed');
  return 1;
}

function debugLog() {
  const level = process.env.LOG_LEVEL;
  return pino({ level: level && pino.levels.values[level] !== undefined ? level : 'info' });
}
