import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { withoutSecretFields } from './log-secrets.js';

/** A pino logger configured as http/server.ts configures it, writing into an array. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const log = pino({ formatters: { log: withoutSecretFields } }, stream);
  return { log, lines };
}

describe('withoutSecretFields', () => {
  test('drops password, client_secret and token at the top level and one level down, on child loggers too', () => {
    const { log, lines } = capture();
    log.warn({ password: 'pw-1', body: { client_secret: 'cs-2', token: 'tk-3', keep: 'visible' }, err: Object.assign(new Error('boom'), { token: 'tk-4' }) }, 'refused');
    log.child({ requestId: 'r1' }).info({ user: { password: 'pw-6' } }, 'child line');
    const all = lines.join('');
    for (const secret of ['pw-1', 'cs-2', 'tk-3', 'tk-4', 'pw-6']) expect(all).not.toContain(secret);
    const first = JSON.parse(lines[0]!) as { body: unknown; err: { message: string; type: string } };
    expect(first.body).toEqual({ keep: 'visible' });
    expect(first.err.message).toBe('boom');
    expect(first.err.type).toBe('Error');
    expect(JSON.parse(lines[1]!)).toMatchObject({ requestId: 'r1', user: {} });
  });

  test('a line without such fields is passed on as it is, uncopied', () => {
    const line = { req: { method: 'GET' }, res: { statusCode: 200 }, responseTime: 1.2, nested: { a: 1 } };
    expect(withoutSecretFields(line)).toBe(line);
  });
});
