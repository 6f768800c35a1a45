// Closed-loop refresh_token load on a worker thread (its own event loop, as
// load-worker.mjs gives autocannon): each connection holds one refresh token
// family and sends its next refresh only after the answer, always with the
// refresh token it was last given, as a real client must once tokens rotate.
// Autocannon cannot carry a value from one response into the next request of
// the same connection (its context resets per loop), hence this small loop.
// Plain JavaScript on purpose: worker threads do not inherit the tsx loader.
import { parentPort, workerData } from 'node:worker_threads';
import { Client } from 'undici';

const { origin, path, authorization, resource, tokens, duration } = workerData;
const latencies = [];
const statusCodes = {};
let errors = 0;
let rotated = 0;

async function connection(initial) {
  const client = new Client(origin, { pipelining: 1 });
  let token = initial;
  const end = Date.now() + duration * 1000;
  try {
    while (Date.now() < end) {
      const started = performance.now();
      try {
        const res = await client.request({
          path, method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
          // Without `resource` (bench/speed.ts): an opaque access token, as the bare engine gives for a grant without one.
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, ...(resource ? { resource } : {}) }).toString(),
        });
        const body = await res.body.json();
        latencies.push(performance.now() - started);
        statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1;
        if (res.statusCode !== 200) break; // a dead family: stop this connection rather than count failures
        if (body.refresh_token !== token) rotated++;
        token = body.refresh_token;
      } catch {
        errors++;
        break;
      }
    }
  } finally {
    await client.close();
  }
}

const started = performance.now();
await Promise.all(tokens.map(connection));
const seconds = (performance.now() - started) / 1000;
parentPort.postMessage({ latencies, statusCodes, errors, rotated, seconds });
