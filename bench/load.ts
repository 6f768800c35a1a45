import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import type { RawResult } from 'autocannon';

/** One HTTP request shape, replayed by every connection. */
export interface LoadRequest {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions extends LoadRequest {
  connections: number;
  /** Seconds (autocannon stops at its next 1 s sample, so runs last whole seconds). */
  duration: number;
}

/** The benchmark's summary of one or more runs against one target (latencies in ms). */
export interface LoadSummary {
  /** Completed requests (any status) over the measured wall-clock time of all runs. */
  perSecond: number;
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

const WORKER = new URL('./load-worker.mjs', import.meta.url);

/**
 * Runs autocannon on a worker thread (see load-worker.mjs) and resolves with
 * its raw result. Rejects if autocannon itself fails; HTTP errors are counted, not thrown.
 */
export function runLoad(opts: LoadOptions): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: opts });
    let settled = false;
    worker.once('message', (msg: { ok: true; raw: RawResult } | { ok: false; error: string }) => {
      settled = true;
      if (msg.ok) resolve(msg.raw);
      else reject(new Error(`autocannon failed: ${msg.error}`));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`load worker exited with code ${code} before reporting`));
    });
  });
}

/** Merges the rounds run against one target: latency histograms are combined, counts summed. */
export function summarize(raws: RawResult[], opts: LoadOptions): LoadSummary {
  if (raws.length === 0) throw new Error('no runs to summarize');
  const requests = raws.reduce((n, r) => n + r.totalCompletedRequests, 0);
  const seconds = raws.reduce((n, r) => n + r.duration, 0);
  // aggregateResult adds status-code counts into the first run's object; hand it copies.
  const merged = autocannon.aggregateResult(raws.map((r) => structuredClone(r)), { ...opts });
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(merged.statusCodeStats)) statusCodes[code] = s.count;
  return {
    perSecond: seconds > 0 ? requests / seconds : 0,
    requests,
    seconds,
    p50: merged.latency.p50 ?? NaN,
    p99: merged.latency.p99 ?? NaN,
    non2xx: merged.non2xx,
    errors: merged.errors,
    timeouts: merged.timeouts,
    statusCodes,
  };
}
