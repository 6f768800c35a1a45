import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Platform } from '../../platform.js';
import { AppError } from '../../http/errors.js';
import { NotFoundError } from '../../storage/errors.js';
import { isStorableText } from '../../storage/text.js';
import { ImportJobs } from '../../userdata/import/jobs.js';
import type { ImportJob } from '../../userdata/import/jobs.js';
import type { AdminEmit } from '../audit.js';
import type { AdminRouter } from '../routing.js';
import { cursorSchema, decodeCursor, encodeCursor, idSchema, iso, isoTime, pageOf, pathId } from '../schemas.js';
import { administers, visibleTenant } from '../tenancy.js';
import { callerOf } from './data.js';

/** The largest file the admin API takes (the CLI streams files of any size). */
export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;
const TYPES = { 'text/csv': 'csv', 'application/x-ndjson': 'jsonl', 'application/jsonl': 'jsonl', 'application/x-jsonlines': 'jsonl' } as const;

const flag = z.enum(['true', 'false']).transform((v) => v === 'true');
const counts = z.object({ created: z.number(), updated: z.number(), unchanged: z.number(), skipped: z.number(), failed: z.number() });
const jobView = z.object({
  id: z.string(),
  tenant: z.string(),
  status: z.enum(['queued', 'running', 'done', 'failed']).describe('failed: the CSV header was wrong (see errors) or the job could not run.'),
  format: z.enum(['jsonl', 'csv']),
  on_conflict: z.enum(['skip', 'update']),
  dry_run: z.boolean(),
  send_activation: z.boolean(),
  source: z.string().nullable(),
  total_bytes: z.number(),
  bytes_done: z.number(),
  progress: z.number().describe('0-1, by bytes.'),
  rows: z.number().describe('Rows handled so far.'),
  counts,
  error_count: z.number().describe('Rows in the error report (GET …/errors); skipped rows are listed there too (code exists).'),
  rows_per_second: z.number().nullable(),
  eta_seconds: z.number().nullable(),
  created_at: isoTime,
  started_at: isoTime.nullable(),
  finished_at: isoTime.nullable(),
});

function toView(j: ImportJob): z.infer<typeof jobView> {
  const rows = j.counts.created + j.counts.updated + j.counts.unchanged + j.counts.skipped + j.counts.failed;
  const secs = j.startedAt ? ((j.finishedAt ?? Date.now()) - j.startedAt) / 1000 : 0;
  const byteRate = secs > 0 ? j.bytesDone / secs : 0;
  return {
    id: j.id, tenant: j.tenantId, status: j.status, format: j.format, on_conflict: j.options.on_conflict, dry_run: j.options.dry_run,
    send_activation: j.options.send_activation, source: j.options.source, total_bytes: j.totalBytes, bytes_done: j.bytesDone,
    progress: j.totalBytes ? j.bytesDone / j.totalBytes : 1, rows, counts: j.counts, error_count: j.errorCount,
    rows_per_second: secs > 0 ? Math.round(rows / secs) : null,
    eta_seconds: j.status === 'running' && byteRate > 0 ? Math.ceil((j.totalBytes - j.bytesDone) / byteRate) : j.status === 'done' ? 0 : null,
    created_at: iso(j.createdAt)!, started_at: iso(j.startedAt), finished_at: iso(j.finishedAt),
  };
}

const errorView = z.object({ line: z.number(), field: z.string().nullable(), code: z.string(), message: z.string() });

/**
 * Asynchronous imports (docs/users.md#import-through-the-admin-api): POST
 * the file, poll the job, page through its error report. The worker runs
 * in every server instance; a job is claimed by one.
 */
export function registerImportRoutes(app: FastifyInstance, route: AdminRouter, p: Platform, emit: AdminEmit): void {
  const jobs = new ImportJobs({ db: p.db, events: p.events, log: p.log });
  const worker = jobs.start();
  app.addHook('onClose', async () => worker.stop());
  app.addContentTypeParser(Object.keys(TYPES), { parseAs: 'buffer', bodyLimit: IMPORT_MAX_BYTES }, (_req, body, done) => done(null, body));

  const tag = 'Import';
  const scope = 'identity.admin' as const;
  route({
    method: 'POST', path: '/users/imports', tag, scope, summary: 'Start an import',
    description: `The body is the file: JSONL (Content-Type application/x-ndjson) or CSV (text/csv), at most ${IMPORT_MAX_BYTES / 1024 / 1024} MiB. `
      + 'Answers 202 with the job; it runs in the background (poll GET /users/imports/{job}). A client with attribute_source imports as that source too.',
    query: z.strictObject({
      tenant: idSchema.optional().describe('Default: the caller\'s tenant.'),
      on_conflict: z.enum(['skip', 'update']).default('skip'),
      dry_run: flag.default(false),
      send_activation: flag.default(false),
    }),
    status: 202, response: jobView, errors: [400, 404, 413, 415],
    async handler({ principal, query, request, reply, event }) {
      const tenantId = visibleTenant(principal, query.tenant);
      if (!(await p.tenants.findById(tenantId))) throw new NotFoundError('tenant', tenantId);
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() as keyof typeof TYPES;
      const format = TYPES[type];
      if (!format || !Buffer.isBuffer(request.body)) throw new AppError('unsupported_media_type', 415, 'Send the file as text/csv or application/x-ndjson.');
      const job = await jobs.create({
        tenantId, format, payload: request.body, actorId: principal.id,
        options: { on_conflict: query.on_conflict, dry_run: query.dry_run, send_activation: query.send_activation, source: callerOf(principal).source },
      });
      await emit('users.import_started', principal, { tenantId, subjectId: null }, event, { job: job.id, format, bytes: job.totalBytes, ...job.options });
      reply.header('location', `/api/admin/v1/users/imports/${job.id}`);
      // Start now on this instance rather than at the next poll.
      void jobs.work().catch((err) => p.log.error({ err }, 'import worker failed'));
      return toView(job);
    },
  });

  const visibleJob = async (principal: Parameters<typeof administers>[0], id: string) => {
    const job = isStorableText(id) ? await jobs.get(id) : undefined;
    if (!job || !administers(principal, job.tenantId)) throw new NotFoundError('import', id);
    return job;
  };

  route({
    method: 'GET', path: '/users/imports/:job', tag, scope, summary: 'An import\'s status and progress',
    params: z.object({ job: pathId }), response: jobView, errors: [404],
    async handler({ principal, params }) {
      return toView(await visibleJob(principal, params.job));
    },
  });

  route({
    method: 'GET', path: '/users/imports/:job/errors', tag, scope, summary: 'An import\'s error report',
    description: 'One item per problem: the line, the field (null for the whole row) and a stable code (docs/users.md#import-error-codes).',
    params: z.object({ job: pathId }), query: z.strictObject({ cursor: cursorSchema.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    response: pageOf(errorView), errors: [400, 404],
    async handler({ principal, params, query }) {
      const job = await visibleJob(principal, params.job);
      const after = decodeCursor(query.cursor, z.object({ s: z.number() }));
      if (after === 'invalid') throw new AppError('validation_failed', 400, 'The cursor is not one this API issued.', { cursor: 'invalid' });
      const rows = await jobs.errors(job.id, after?.s ?? 0, query.limit + 1);
      const page = rows.slice(0, query.limit);
      return {
        items: page.map(({ seq: _seq, ...e }) => e),
        next_cursor: rows.length > query.limit ? encodeCursor({ s: page.at(-1)!.seq }) : null,
      };
    },
  });
}
