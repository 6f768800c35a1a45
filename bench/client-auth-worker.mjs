// Closed-loop client_credentials load on a worker thread (its own event loop,
// as refresh-worker.mjs): each connection sends its next token request only
// after the answer. A request body is taken from `bodies` in turn (for
// private_key_jwt each carries its own client assertion, signed before the
// clock starts, since an assertion is accepted once); `authorization` is the
// Basic header for client_secret_basic. Plain JavaScript on purpose: worker
// threads do not inherit the tsx loader.
import { parentPort, workerData } from 'node:worker_threads';
import { Client } from 'undici';

const { origin, path, authorization, bodies, connections, duration } = workerData;
const latencies = [];
const statusCodes = {};
let errors = 0;
let next = 0;

async function connection() {
  const client = new Client(origin, { pipelining: 1 });
  const end = Date.now() + duration * 1000;
  try {
    while (Date.now() < end && next < bodies.length) {
      const body = bodies[next++];
      const started = performance.now();
      try {
        const res = await client.request({
          path, method: 'POST',
          headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        await res.body.text();
        latencies.push(performance.now() - started);
        statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1;
      } catch {
        errors++;
      }
    }
  } finally {
    await client.close();
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: connections }, connection));
const seconds = (performance.now() - started) / 1000;
parentPort.postMessage({ latencies, statusCodes, errors, seconds, exhausted: next >= bodies.length });
