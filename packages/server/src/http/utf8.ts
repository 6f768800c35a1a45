import { isUtf8 } from 'node:buffer';
import { Transform } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';

/**
 * Invalid UTF-8 is refused, never decoded to U+FFFD and stored (an account
 * named `\uFFFD\uFFFD@b.c`): query strings on every route, and bodies of
 * Tessera's routes and of the protocol engine's. A form body or query string
 * is checked after percent-decoding (`%C3%28` is as invalid as the raw bytes);
 * a JSON body on its bytes and, after parsing, for lone surrogates
 * (`"\ud800"`), which no UTF-8 text can hold. Percent signs not followed by
 * two hex digits are literal text, as the parsers read them.
 * docs/security.md#input.
 */
export const INVALID_ENCODING = 'The request is not valid UTF-8.';

/** True when `bytes`, with its %XX escapes decoded (and `+` left as is), is well-formed UTF-8. */
export function percentDecodedIsUtf8(bytes: Buffer): boolean {
  if (!bytes.includes(0x25)) return isUtf8(bytes);
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out[n++] = parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16);
      i += 2;
    } else {
      out[n++] = b;
    }
  }
  return isUtf8(out.subarray(0, n));
}

function isHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}

/** The query string of a raw request URL (Node keeps the request line's bytes as latin1 characters), checked. */
export function queryIsUtf8(url: string): boolean {
  const q = url.indexOf('?');
  if (q === -1) return true;
  return percentDecodedIsUtf8(Buffer.from(url.slice(q + 1), 'latin1'));
}

/** Every string (and key) in a parsed JSON value is well-formed (no lone surrogates). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

export function wellFormedJson(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return wellFormed(value);
  if (depth > 64 || value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) return value.every((v) => wellFormedJson(v, depth + 1));
  return Object.entries(value).every(([k, v]) => wellFormed(k) && wellFormedJson(v, depth + 1));
}

/** Routes handed to the protocol engine (http/engine.ts marks them). */
export const isEngineRoute = (request: FastifyRequest) => Boolean((request.routeOptions.config as { engine?: boolean } | undefined)?.engine);

const JSON_TYPE = /^application\/([\w.-]+\+)?json\b/i;
const isForm = (type: string | undefined) => /^application\/x-www-form-urlencoded\b/i.test(type ?? '');

/**
 * Installs the checks on Tessera's routes: the query string before routing
 * (all routes, the engine's included), the body's bytes while it is read, and
 * parsed JSON for lone surrogates. Refusals are 400 `invalid_encoding`.
 */
export function installUtf8Checks(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (queryIsUtf8(request.raw.url ?? '')) return;
    // The protocol engine's endpoints answer in RFC 6749 terms.
    throw new AppError(isEngineRoute(request) ? 'invalid_request' : 'invalid_encoding', 400, INVALID_ENCODING);
  });
  app.addHook('preParsing', async (request, _reply, payload) => {
    // The engine reads its own bodies (engineBodyIsUtf8); requests without a body have nothing to check.
    if (isEngineRoute(request) || request.method === 'GET' || request.method === 'HEAD'
      || (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined)) return payload;
    // Form and JSON bodies, which the parsers decode as text. Other types (an import's CSV) are
    // their routes' own business: they report bad rows instead of refusing the file.
    const type = request.headers['content-type'];
    const form = isForm(type);
    if (!form && !JSON_TYPE.test(type ?? '')) return payload;
    const chunks: Buffer[] = [];
    let size = 0;
    // At most the body limit is buffered: beyond it the parser refuses the body anyway (413).
    const checked = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size <= 256 * 1024) chunks.push(chunk);
        done(null, chunk);
      },
      flush(done) {
        const body = Buffer.concat(chunks);
        const ok = size > 256 * 1024 || (form ? percentDecodedIsUtf8(body) : isUtf8(body));
        done(ok ? null : new AppError('invalid_encoding', 400, INVALID_ENCODING));
      },
    });
    payload.on('error', (err) => checked.destroy(err));
    // A route that answers without reading its body (a refusal before parsing, a parser that
    // ignores the payload) leaves this stream without a reader: its refusal would then be an
    // uncaught 'error' event, which ends the process. A reader gets the error through its own
    // listener; without one there is nothing to refuse.
    checked.on('error', () => undefined);
    return payload.pipe(checked);
  });
  app.addHook('preValidation', async (request) => {
    if (JSON_TYPE.test(request.headers['content-type'] ?? '') && !wellFormedJson(request.body)) {
      throw new AppError('invalid_encoding', 400, INVALID_ENCODING);
    }
  });
}

/**
 * The protocol engine reads its own bodies. For a form or JSON POST with a
 * Content-Length within the engine's limit, the body is read ahead, checked,
 * and put back on the stream (`unshift`, before its end is signalled) for the
 * engine to read. Resolves false when the body is not valid UTF-8.
 */
export async function engineBodyIsUtf8(req: IncomingMessage, limit: number): Promise<boolean> {
  const type = req.headers['content-type'];
  const json = /^application\/json\b/i.test(type ?? '');
  if (req.method !== 'POST' || !(isForm(type) || json)) return true;
  const length = Number(req.headers['content-length']);
  if (!Number.isSafeInteger(length) || length <= 0 || length > limit) return true;
  const body = await new Promise<Buffer | undefined>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: Buffer | undefined) => {
      req.off('readable', onReadable);
      req.off('end', onEnd);
      req.off('error', onEnd);
      resolve(value);
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = req.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= length) {
          const all = Buffer.concat(chunks);
          // Put it back before the stream can signal its end: the engine reads it as if untouched.
          req.unshift(all);
          return done(all);
        }
      }
    };
    // Ended (or failed) short of Content-Length: the engine finds the body short and refuses it (400).
    const onEnd = () => done(undefined);
    req.on('readable', onReadable);
    req.once('end', onEnd);
    req.once('error', onEnd);
  });
  if (!body) return true;
  return isForm(type) ? percentDecodedIsUtf8(body) : isUtf8(body);
}
