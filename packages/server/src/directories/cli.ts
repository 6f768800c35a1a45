import { parseArgs } from 'node:util';
import type { TesseraApp } from '../app.js';
import { directoriesOf } from './feature.js';
import { DirectoryUnavailableError } from './ldap/client.js';
import { DirectoryBusyError, UnknownProviderError, summaryLine } from './ldap/sync.js';
import type { SyncProgress } from './ldap/sync.js';

export const LDAP_SYNC_USAGE = 'tessera ldap sync --provider ALIAS';

/** A progress line on a terminal (redrawn), or a line per page elsewhere. */
function progress(stream: NodeJS.WriteStream): (p: SyncProgress) => void {
  const width = 30;
  return ({ seen, total }) => {
    if (total) {
      const done = Math.min(width, Math.round((seen / total) * width));
      const bar = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${seen}/${total}`;
      if (stream.isTTY) stream.write(`\r${bar}`);
      else stream.write(`${bar}\n`);
    } else stream.write(stream.isTTY ? `\r${seen} entries` : `${seen} entries\n`);
  };
}

/**
 * `tessera ldap sync --provider ALIAS`: one sync now, with a progress bar on
 * stderr and the summary on stdout. Ctrl-C stops it cleanly (nobody is
 * disabled by an interrupted run; run it again). Exit codes: 0 done, 2 usage
 * or unknown provider, 69 directory unavailable, 75 another instance is syncing.
 */
export async function ldapSyncCommand(app: TesseraApp, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { provider: { type: 'string' } } });
  const dirs = directoriesOf(app.platform);
  if (!values.provider || !dirs) {
    console.error(`usage: ${LDAP_SYNC_USAGE}`);
    return 2;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  const provider = await dirs.providers.get(values.provider);
  const total = provider ? await provider.connector.count().catch(() => undefined) : undefined;
  const show = progress(process.stderr);
  try {
    const summary = await dirs.sync.run(values.provider, { signal: controller.signal, onProgress: (p) => show({ ...p, ...(total ? { total } : {}) }) });
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(`${values.provider}: ${summaryLine(summary!)} (${(summary!.ms / 1000).toFixed(1)} s)`);
    return 0;
  } catch (err) {
    if (err instanceof UnknownProviderError) {
      console.error(`tessera ldap sync: ${err.message} (declare it under identity_providers with type: ldap)`);
      return 2;
    }
    if (err instanceof DirectoryBusyError) {
      console.error(`tessera ldap sync: ${err.message}; try again later`);
      return 75;
    }
    if (err instanceof DirectoryUnavailableError) {
      console.error(`tessera ldap sync: ${err.message}; nothing was disabled`);
      return 69;
    }
    if (controller.signal.aborted) {
      console.error('\ntessera ldap sync: interrupted; nobody was disabled, run it again to finish');
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', stop);
  }
}
