// Runs one autocannon load on a worker thread, so the load generator gets its
// own event loop (and, on a 2-core machine, roughly its own core) instead of
// competing with the servers under test on the main thread.
// Plain JavaScript on purpose: worker threads do not inherit the tsx loader.
//
// Off the main thread autocannon returns its raw result (histograms encoded)
// and leaves aggregation to the caller, as in its own `workers` mode; load.ts
// aggregates the rounds of one target together.
import { parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';

try {
  const raw = await autocannon({ ...workerData, pipelining: 1, timeout: 10 });
  parentPort.postMessage({ ok: true, raw });
} catch (err) {
  parentPort.postMessage({ ok: false, error: String(err?.stack ?? err) });
}
