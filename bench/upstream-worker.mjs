// The trivial upstream of the gateway benchmark: node:http answering every
// request with a small JSON body. It runs on its own worker thread (its own
// event loop), as a backend service would run in its own process, so the
// proxies under test do not share their event loop with it.
// Plain JavaScript on purpose: worker threads do not inherit the tsx loader.
import { createServer } from 'node:http';
import { parentPort } from 'node:worker_threads';

const BODY = JSON.stringify({ ok: true, items: [1, 2, 3], note: 'trivial upstream' });
const server = createServer((req, res) => {
  // Drain any request body, then answer.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port, body: BODY }));
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
