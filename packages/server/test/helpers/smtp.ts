/**
 * A real SMTP server for integration tests (the `smtp-server` package), so
 * mail leaves Tessera through nodemailer exactly as in production and the
 * test reads what a mailbox would receive.
 *
 * Usage:
 *   const smtp = await startSmtp();
 *   const t = await startTestApp({ env: { SMTP_URL: smtp.url } });
 *   … trigger a mail …
 *   const mail = await smtp.waitFor((m) => m.to === 'bob@example.test' && m.subject.includes('Confirm'));
 *   const link = firstLink(mail.text, '/confirm-email');
 *   await smtp.close();
 *
 * Each message is parsed without a MIME library: headers (with folding and
 * RFC 2047 encoded words, so German subjects read as text), the
 * Content-Transfer-Encoding of the body (quoted-printable, base64, 7bit,
 * 8bit) decoded as UTF-8, and for multipart messages the first text/plain
 * part (`html` holds the first text/html part, if any).
 */
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The first envelope recipient (RCPT TO), lower-cased so tests compare it to what they typed. */
  to: string;
  /** Every envelope recipient, lower-cased. */
  recipients: string[];
  /** The envelope sender (MAIL FROM). */
  from: string;
  subject: string;
  /** The decoded text/plain body. */
  text: string;
  html?: string;
  /** Header names lower-cased; values unfolded and decoded. */
  headers: Record<string, string>;
  raw: string;
}

export interface TestSmtp {
  /** For SMTP_URL: plain SMTP on loopback, no TLS, no auth. */
  url: string;
  port: number;
  /** Every message received so far, oldest first. */
  messages: ReceivedMail[];
  /**
   * The first message (already received or arriving within `timeoutMs`) that
   * matches. Rejects with the list of received subjects on timeout.
   */
  waitFor(predicate: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Forgets the messages received so far. */
  clear(): void;
  close(): Promise<void>;
}

/** Starts an SMTP server on a free loopback port. */
export async function startSmtp(): Promise<TestSmtp> {
  const messages: ReceivedMail[] = [];
  const waiters: { predicate: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    // No STARTTLS: nodemailer then sends in plain text over loopback (no certificate needed).
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 10 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', callback);
      stream.on('end', () => {
        try {
          const raw = Buffer.concat(chunks).toString('latin1');
          const mail = parseMessage(raw, {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            recipients: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          });
          messages.push(mail);
          for (const w of [...waiters]) {
            if (w.predicate(mail)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(mail);
            }
          }
          callback();
        } catch (err) {
          callback(err as Error);
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.on('error', () => {}); // a client dropping the connection must not crash the test run
  const port = (server.server.address() as { port: number }).port;

  return {
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    port,
    messages,
    waitFor(predicate, timeoutMs = 5000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (m: ReceivedMail) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no matching mail within ${timeoutMs} ms; received: ${JSON.stringify(messages.map((m) => `${m.to}: ${m.subject}`))}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    clear() {
      messages.length = 0;
    },
    close() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The first http(s) URL in a text whose path starts with `pathPrefix` (any URL when omitted). */
export function firstLink(text: string, pathPrefix = ''): string {
  for (const m of text.matchAll(/https?:\/\/[^\s<>"')]+/g)) {
    const url = new URL(m[0]);
    if (url.pathname.startsWith(pathPrefix)) return m[0];
  }
  throw new Error(`no link to ${pathPrefix || 'anywhere'} in:\n${text}`);
}

/** Parses one RFC 5322 message (exported for unit use; the server calls it). */
export function parseMessage(raw: string, envelope: { from: string; recipients: string[] }): ReceivedMail {
  const { headers, body } = splitEntity(raw);
  const parts = collectParts(headers, body);
  const text = parts.find((p) => p.type === 'text/plain')?.text ?? '';
  const html = parts.find((p) => p.type === 'text/html')?.text;
  return {
    to: envelope.recipients[0] ?? '',
    recipients: envelope.recipients,
    from: envelope.from,
    subject: headers.subject ?? '',
    text,
    ...(html !== undefined ? { html } : {}),
    headers,
    raw,
  };
}

/** Splits headers from body; header values are unfolded and RFC 2047-decoded. `raw` is latin1 (one char per byte). */
function splitEntity(raw: string): { headers: Record<string, string>; body: string } {
  const sep = /\r?\n\r?\n/.exec(raw);
  const head = sep ? raw.slice(0, sep.index) : raw;
  const body = sep ? raw.slice(sep.index + sep[0].length) : '';
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!(name in headers)) headers[name] = decodeWords(line.slice(colon + 1).trim());
  }
  return { headers, body };
}

interface Part { type: string; text: string }

function collectParts(headers: Record<string, string>, body: string): Part[] {
  const contentType = headers['content-type'] ?? 'text/plain; charset=us-ascii';
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = param(contentType, 'boundary');
    if (!boundary) return [];
    const delimiter = `--${boundary}`;
    const sections = body.split(new RegExp(`\\r?\\n?${escapeRegExp(delimiter)}(?:--)?[ \\t]*\\r?\\n?`));
    // The preamble comes before the first delimiter, the epilogue after the closing one.
    return sections.slice(1, -1).flatMap((section) => {
      const part = splitEntity(section);
      return collectParts(part.headers, part.body);
    });
  }
  const bytes = decodeTransfer(body, (headers['content-transfer-encoding'] ?? '7bit').toLowerCase());
  return [{ type, text: decodeCharset(bytes, param(contentType, 'charset') ?? 'utf-8') }];
}

function decodeTransfer(body: string, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (encoding === 'quoted-printable') return quotedPrintable(body);
  return Buffer.from(body, 'latin1');
}

/** RFC 2045 §6.7: soft line breaks (`=` at the end of a line) vanish; `=XX` is one byte. */
function quotedPrintable(body: string): Buffer {
  const joined = body.replace(/[ \t]+(?=\r?\n)/g, '').replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i]!;
    const hex = joined.slice(i + 1, i + 3);
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(joined.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(out);
}

function decodeCharset(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.toLowerCase()).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`); whitespace between adjacent words is dropped. */
function decodeWords(value: string): string {
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  const joined = value.replace(/(\?=)\s+(?==\?)/g, '$1');
  const decoded = joined.replace(word, (_m, charset: string, enc: string, text: string) => {
    const bytes = enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : quotedPrintable(text.replace(/_/g, ' '));
    return decodeCharset(bytes, charset);
  });
  // Header text outside encoded words arrived as raw bytes (latin1 here); 8-bit UTF-8 headers decode too.
  return /[\u0080-\u00ff]/.test(decoded) && !/=\?[^?]+\?[BbQq]\?/.test(value) ? Buffer.from(decoded, 'latin1').toString('utf8') : decoded;
}

function param(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
