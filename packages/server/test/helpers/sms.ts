import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';

/**
 * An HTTP SMS provider for tests: it records every message POSTed to it (as
 * a provider's API receives it: path, headers, JSON or form body) and can be
 * told to fail: answer 5xx or 4xx, or hang past the client's timeout, for
 * the next N requests or until told otherwise.
 *
 *   const sms = await startSmsReceiver();
 *   startTestApp({ env: { SMS_PROVIDER: 'http', SMS_HTTP_URL: `${sms.url}/send`, … } });
 *   const code = (await sms.waitFor((m) => m.to === '+4930123456')).code;
 */
export interface ReceivedSms {
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed body (JSON or form). */
  body: Record<string, unknown>;
  /** The recipient and text, read from the body's usual fields (`to`/`To`, `text`/`Body`/`message`). */
  to: string;
  text: string;
  /** The first 6-digit number in the text. */
  code: string | undefined;
}

export type FailureMode = { status: number } | { hang: true };

export interface SmsReceiver {
  url: string;
  /** Messages accepted (answered 2xx), oldest first. */
  messages: ReceivedSms[];
  /** Every request, failed ones included. */
  attempts: number;
  /** Fails the next `times` requests (Infinity: until `recover()`). */
  fail(mode: FailureMode, times?: number): void;
  recover(): void;
  waitFor(predicate: (m: ReceivedSms) => boolean, timeoutMs?: number): Promise<ReceivedSms>;
  /** The newest accepted message to a number. */
  last(to: string): ReceivedSms | undefined;
  clear(): void;
  close(): Promise<void>;
}

export async function startSmsReceiver(): Promise<SmsReceiver> {
  const messages: ReceivedSms[] = [];
  const waiters: { predicate: (m: ReceivedSms) => boolean; resolve: (m: ReceivedSms) => void }[] = [];
  let failing: { mode: FailureMode; left: number } | undefined;
  let attempts = 0;
  const hanging = new Set<import('node:http').ServerResponse>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts++;
      if (failing && failing.left > 0) {
        failing.left--;
        const { mode } = failing;
        if ('hang' in mode) {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        res.writeHead(mode.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: mode.status, message: 'failing on purpose' }));
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const type = req.headers['content-type'] ?? '';
      let body: Record<string, unknown>;
      try {
        body = type.startsWith('application/json') ? JSON.parse(raw) as Record<string, unknown> : Object.fromEntries(new URLSearchParams(raw));
      } catch {
        res.writeHead(400).end('{"message":"bad body"}');
        return;
      }
      const text = String(body.text ?? body.Body ?? body.message ?? '');
      const sms: ReceivedSms = { path: req.url ?? '/', headers: req.headers, body, to: String(body.to ?? body.To ?? ''), text, code: /\b(\d{6})\b/.exec(text)?.[1] };
      messages.push(sms);
      for (const w of [...waiters]) {
        if (w.predicate(sms)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(sms);
        }
      }
      // Twilio answers 201 with the message resource; generic providers mostly 200/202.
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sid: `SM${messages.length}`, status: 'queued' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    get attempts() { return attempts; },
    fail(mode, times = Infinity) {
      failing = { mode, left: times };
    },
    recover() {
      failing = undefined;
    },
    waitFor(predicate, timeoutMs = 10_000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no matching SMS within ${timeoutMs} ms; received: ${messages.map((m) => m.to).join(', ') || 'none'}`));
          }
        }, timeoutMs).unref();
      });
    },
    last(to) {
      return [...messages].reverse().find((m) => m.to === to);
    },
    clear() {
      messages.length = 0;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
