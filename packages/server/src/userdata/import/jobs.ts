import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import type { EventBus } from '../../audit/events.js';
import { UserDataService } from '../service.js';
import { collectKeys, emptyCounts, runImport } from './importer.js';
import type { ImportCounts, ImportOptions, ImportProgress } from './importer.js';
import type { RowError } from './rows.js';

/**
 * Import jobs of the admin API (docs/users.md#import-through-the-admin-api):
 * the uploaded file is stored with the job, a worker in the server runs it
 * batch by batch, and each batch commits with the job's checkpoint (byte
 * offset, line, counts) and its error rows. A job whose server died is
 * picked up again by any instance once its heartbeat is a minute old, and
 * goes on from its checkpoint: nothing lost, nothing doubled.
 */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface ImportJob {
  id: string;
  tenantId: string;
  status: JobStatus;
  format: 'jsonl' | 'csv';
  options: { on_conflict: 'skip' | 'update'; dry_run: boolean; send_activation: boolean; source: string | null };
  totalBytes: number;
  bytesDone: number;
  linesDone: number;
  counts: ImportCounts;
  errorCount: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

const STALE_MS = 60_000;

export class ImportJobs {
  private running = false;

  constructor(private readonly deps: { db: Kysely<Database>; events: EventBus; log: { error(o: object, m: string): void }; batchSize?: number }) {}

  async create(input: { tenantId: string; format: 'jsonl' | 'csv'; options: ImportJob['options']; payload: Buffer; actorId: string | null }): Promise<ImportJob> {
    const id = randomUUID();
    await this.deps.db.insertInto('user_import_jobs').values({
      id, tenant_id: input.tenantId, status: 'queued', format: input.format, options: JSON.stringify(input.options),
      // base64: the upload may hold invalid UTF-8, which is a per-row error, not a reason to refuse the file.
      payload: input.payload.toString('base64'), total_bytes: input.payload.length, counts: JSON.stringify(emptyCounts()),
      actor_id: input.actorId, created_at: Date.now(), started_at: null, heartbeat_at: null, finished_at: null,
    }).execute();
    return (await this.get(id))!;
  }

  async get(id: string): Promise<ImportJob | undefined> {
    const r = await this.deps.db.selectFrom('user_import_jobs').select(['id', 'tenant_id', 'status', 'format', 'options', 'total_bytes', 'bytes_done', 'lines_done', 'counts',
      'created_at', 'started_at', 'finished_at']).where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    const errors = await this.deps.db.selectFrom('user_import_errors').select((eb) => eb.fn.countAll<number>().as('n')).where('job_id', '=', id).executeTakeFirstOrThrow();
    return {
      id: r.id, tenantId: r.tenant_id, status: r.status as JobStatus, format: r.format as 'jsonl' | 'csv', options: JSON.parse(r.options) as ImportJob['options'],
      totalBytes: Number(r.total_bytes), bytesDone: Number(r.bytes_done), linesDone: Number(r.lines_done), counts: JSON.parse(r.counts) as ImportCounts,
      errorCount: Number(errors.n), createdAt: Number(r.created_at), startedAt: r.started_at === null ? null : Number(r.started_at),
      finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    };
  }

  async errors(id: string, afterSeq: number, limit: number): Promise<(RowError & { seq: number })[]> {
    const rows = await this.deps.db.selectFrom('user_import_errors').selectAll().where('job_id', '=', id).where('seq', '>', afterSeq)
      .orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), line: Number(r.line), field: r.field, code: r.code, message: r.message }));
  }

  /** Claims and runs due jobs, one at a time; resolves when none is left. */
  async work(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const job = await this.claim();
        if (!job) return;
        await this.run(job).catch(async (err: unknown) => {
          this.deps.log.error({ err, job: job.id }, 'import job failed');
          await this.deps.db.updateTable('user_import_jobs').set({ status: 'failed', finished_at: Date.now() }).where('id', '=', job.id).execute();
        });
      }
    } finally {
      this.running = false;
    }
  }

  start(intervalMs = 2000): { stop(): void } {
    const timer = setInterval(() => this.work().catch((err) => this.deps.log.error({ err }, 'import worker failed')), intervalMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  private async claim(): Promise<ImportJob | undefined> {
    const now = Date.now();
    const candidates = await this.deps.db.selectFrom('user_import_jobs').select('id')
      .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('heartbeat_at', '<', now - STALE_MS)])]))
      .orderBy('created_at').limit(5).execute();
    for (const c of candidates) {
      const res = await this.deps.db.updateTable('user_import_jobs').set((eb) => ({ status: 'running', heartbeat_at: now, started_at: eb.fn.coalesce('started_at', eb.val(now)) }))
        .where('id', '=', c.id)
        .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('heartbeat_at', '<', now - STALE_MS)])]))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) return this.get(c.id);
    }
    return undefined;
  }

  private async run(job: ImportJob): Promise<void> {
    const db = this.deps.db;
    const row = await db.selectFrom('user_import_jobs').select('payload').where('id', '=', job.id).executeTakeFirstOrThrow();
    const payload = Buffer.from(row.payload, 'base64');
    const opts: ImportOptions = {
      tenantId: job.tenantId, format: job.format, onConflict: job.options.on_conflict, dryRun: job.options.dry_run,
      sendActivation: job.options.send_activation, caller: { admin: true, source: job.options.source }, batchSize: this.deps.batchSize ?? 500, maxRecordBytes: 64 * 1024,
    };
    let seq = job.errorCount;
    const saveErrors = async (trx: Kysely<Database>, errors: RowError[]) => {
      if (!errors.length) return;
      const rows = errors.map((e) => ({ job_id: job.id, seq: ++seq, line: e.line, field: e.field, code: e.code, message: e.message.slice(0, 500) }));
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('user_import_errors').values(rows.slice(i, i + 500)).execute();
    };
    const saveProgress = (trx: Kysely<Database>, p: ImportProgress) => trx.updateTable('user_import_jobs')
      .set({ bytes_done: p.bytes, lines_done: p.line - 1, counts: JSON.stringify(p.counts), heartbeat_at: Date.now() }).where('id', '=', job.id).execute();
    // A resumed job: rows before the checkpoint count for duplicate checks, and a CSV's header is read again.
    const resumed = job.bytesDone > 0;
    const definitions = new Map((await new UserDataService({ db }).definitions(job.tenantId)).map((d) => [d.name, d]));
    const seen = resumed ? await collectKeys(chunksOf(payload.subarray(0, job.bytesDone)), job.format, job.bytesDone, definitions) : undefined;
    const header = resumed && job.format === 'csv' ? payload.subarray(0, Math.max(0, payload.indexOf(0x0a))).toString('utf8').replace(/\r$/, '') : undefined;
    const result = await runImport(db, chunksOf(payload.subarray(job.bytesDone)), opts, {
      checkpoint: async (trx, p, errors) => {
        await saveErrors(trx, errors);
        await saveProgress(trx, p);
      },
      // A dry run writes no users, so nothing commits with them: its report is kept as it goes.
      ...(opts.dryRun ? {
        onErrors: (errors: RowError[]) => db.transaction().execute((trx) => saveErrors(trx, errors)),
        onProgress: (p: ImportProgress) => void saveProgress(db, p),
      } : {}),
    }, resumed ? { bytes: job.bytesDone, line: job.linesDone + 1, counts: job.counts, seen, header } : undefined);
    if (result.headerErrors) await db.transaction().execute((trx) => saveErrors(trx, result.headerErrors!));
    await db.updateTable('user_import_jobs').set({
      status: result.headerErrors ? 'failed' : 'done', finished_at: Date.now(), counts: JSON.stringify(result.counts), bytes_done: result.headerErrors ? job.bytesDone : payload.length,
    }).where('id', '=', job.id).execute();
    if (!opts.dryRun) {
      await this.deps.events.emit({ type: 'users.imported', tenantId: job.tenantId, subjectId: null, context: {},
        data: { via: 'admin_api', job: job.id, format: job.format, ...job.options, ...result.counts } }, (err) => this.deps.log.error({ err }, 'event listener failed'));
    }
  }
}

async function* chunksOf(buf: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += 1 << 20) yield buf.subarray(i, i + (1 << 20));
}
