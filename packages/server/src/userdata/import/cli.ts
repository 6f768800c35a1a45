import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings } from '../../config/load.js';
import { openStore } from '../../storage/database.js';
import { createTenantRepository } from '../../identity/repository.js';
import { createAuditRepository } from '../../audit/repository.js';
import { SOURCE_NAME } from '../model.js';
import { runImport } from './importer.js';
import type { ImportProgress } from './importer.js';
import type { RowError } from './rows.js';

export const IMPORT_USAGE = `usage: tessera users import --file F [--tenant T] [--format jsonl|csv] [--dry-run] [--on-conflict skip|update]
                           [--send-activation] [--source S] [--errors FILE] [--batch N] [--max-size BYTES]
                           [--firebase-signer-key K --firebase-salt-separator S --firebase-rounds R --firebase-mem-cost M]`;

const MB = 1024 * 1024;

/**
 * `tessera users import` (docs/users.md#import): streams a JSONL or CSV file
 * into a tenant in batched transactions, printing progress (rows, rate,
 * ETA) on stderr and a summary on stdout. Bad rows are reported as
 * `file:line: field: code: message` and never stop the run. Exit code 0
 * when every row was imported (or unchanged), 1 when some failed, 2 for a
 * usage error, an unreadable file or a wrong CSV header (nothing imported).
 */
export async function importCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      file: { type: 'string' }, tenant: { type: 'string', default: 'default' }, format: { type: 'string' },
      'dry-run': { type: 'boolean', default: false }, 'on-conflict': { type: 'string', default: 'skip' },
      'send-activation': { type: 'boolean', default: false }, source: { type: 'string' }, errors: { type: 'string' },
      batch: { type: 'string', default: '500' }, 'max-size': { type: 'string', default: String(1024 * MB) },
      'firebase-signer-key': { type: 'string' }, 'firebase-salt-separator': { type: 'string' },
      'firebase-rounds': { type: 'string' }, 'firebase-mem-cost': { type: 'string' },
    },
  });
  const usage = (why: string) => {
    console.error(`tessera users import: ${why}\n${IMPORT_USAGE}`);
    return 2;
  };
  if (!values.file) return usage('--file is required');
  const format = values.format ?? (/\.csv$/i.test(values.file) ? 'csv' : 'jsonl');
  if (format !== 'jsonl' && format !== 'csv') return usage('--format must be jsonl or csv');
  const onConflict = values['on-conflict'];
  if (onConflict !== 'skip' && onConflict !== 'update') return usage('--on-conflict must be skip or update');
  const batch = Number(values.batch);
  const maxSize = Number(values['max-size']);
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) return usage('--batch must be 1-10000');
  if (values.source !== undefined && !SOURCE_NAME.test(values.source)) return usage('--source must be a source name (lower-case letters, digits, ".", "_", "-")');
  const fb = values['firebase-signer-key'] ? {
    signerKey: values['firebase-signer-key'], saltSeparator: values['firebase-salt-separator'] ?? '',
    rounds: Number(values['firebase-rounds']), memCost: Number(values['firebase-mem-cost']),
  } : undefined;
  if (fb && (!Number.isInteger(fb.rounds) || !Number.isInteger(fb.memCost))) return usage('--firebase-rounds and --firebase-mem-cost are whole numbers');
  let size: number;
  try {
    size = statSync(values.file).size;
  } catch (err) {
    console.error(`tessera users import: cannot read ${values.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return 2;
  }
  if (!Number.isFinite(maxSize) || size > maxSize) {
    console.error(`tessera users import: ${values.file} is ${size} bytes, more than --max-size ${maxSize}: nothing imported (split the file or raise --max-size)`);
    return 2;
  }

  const name = basename(values.file);
  const report = values.errors ? createWriteStream(values.errors) : undefined;
  let shown = 0;
  const printErrors = (errors: RowError[]) => {
    for (const e of errors) {
      const line = `${name}:${e.line}: ${e.field ?? '-'}: ${e.code}: ${e.message}`;
      report?.write(`${JSON.stringify({ file: name, ...e })}\n`);
      if (shown < 50) console.error(line);
      else if (shown === 50) console.error(`… more errors${values.errors ? ` in ${values.errors}` : ' (use --errors FILE for the full report)'}`);
      shown += 1;
    }
  };

  const store = openStore(loadSettings({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }).databaseUrl);
  const started = Date.now();
  const progress = progressPrinter(size, started);
  try {
    await store.migrate();
    // The default tenant exists on every started store; a store used before its first start gets it here.
    if (values.tenant === 'default') await createTenantRepository(store.db).upsert('default', 'Default').catch(() => undefined);
    if (!(await store.db.selectFrom('tenants').select('id').where('id', '=', values.tenant!).executeTakeFirst())) {
      console.error(`tessera users import: unknown tenant "${values.tenant}"`);
      return 2;
    }
    const result = await runImport(store.db, createReadStream(values.file, { highWaterMark: MB }), {
      tenantId: values.tenant!, format, onConflict, dryRun: values['dry-run']!, sendActivation: values['send-activation']!,
      caller: { admin: true, source: values.source ?? null }, batchSize: batch, maxRecordBytes: 64 * 1024, firebase: fb,
    }, { onProgress: progress.update, onErrors: printErrors });
    progress.done();
    if (result.headerErrors) {
      printErrors(result.headerErrors);
      console.error(`tessera users import: the CSV header of ${name} is wrong: nothing imported`);
      return 2;
    }
    const c = result.counts;
    const secs = (Date.now() - started) / 1000;
    const rows = c.created + c.updated + c.unchanged + c.skipped + c.failed;
    console.log(`${values['dry-run'] ? 'dry run, nothing written: ' : ''}${name} → tenant ${values.tenant}: `
      + `${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged, ${c.skipped} skipped, ${c.failed} failed `
      + `(${rows} rows in ${secs.toFixed(1)} s, ${Math.round(rows / Math.max(secs, 0.001))} rows/s)`);
    if (values['send-activation'] && !values['dry-run'] && c.created) {
      console.log('activation mails are queued for created users with an email address and no password; the server sends them at TESSERA_ACTIVATION_MAILS_PER_MINUTE');
    }
    if (!values['dry-run']) {
      await createAuditRepository(store.db).append({
        type: 'users.imported', at: Date.now(), tenantId: values.tenant!, subjectId: null, context: {},
        data: { via: 'cli', file: name, format, on_conflict: onConflict, source: values.source ?? null, ...c },
      });
    }
    return c.failed ? 1 : 0;
  } finally {
    report?.end();
    await store.close();
  }
}

/** Progress on stderr: one updating line on a terminal, a line every 5 seconds otherwise. */
function progressPrinter(total: number, started: number) {
  const tty = process.stderr.isTTY;
  let last = 0;
  const line = (p: ImportProgress) => {
    const secs = Math.max((Date.now() - started) / 1000, 0.001);
    const c = p.counts;
    const rows = c.created + c.updated + c.unchanged + c.skipped + c.failed;
    const pct = total ? (100 * p.bytes) / total : 100;
    const eta = p.bytes ? ((total - p.bytes) / (p.bytes / secs)) : 0;
    return `importing ${pct.toFixed(1)}%  ${rows} rows  ${Math.round(rows / secs)} rows/s  ETA ${Math.ceil(eta)} s`;
  };
  return {
    update(p: ImportProgress) {
      const now = Date.now();
      if (tty && now - last > 200) process.stderr.write(`\r${line(p)}   `);
      else if (!tty && now - last > 5000) process.stderr.write(`${line(p)}\n`);
      else return;
      last = now;
    },
    done() {
      if (tty && last) process.stderr.write('\n');
    },
  };
}
