import pino from 'pino';

/** Lines gathered at most this long before they are written (while serving). */
const BATCH_MS = 50;
/** …or until this many characters are gathered. */
const BATCH_CHARS = 64 * 1024;
/** pino's level number of `warn`: such lines and worse are never held. */
const WARN = 40;

/** pino's metadata protocol (pino.multistream uses it): a stream marked so gets `lastLevel` set before each write. */
const NEEDS_METADATA: unique symbol = Symbol.for('pino.metadata') as never;

/** Destinations with lines held, written synchronously when the process exits (one listener for all). */
const holding = new Set<BatchedLogDestination>();
let exitHook = false;

/**
 * Standard output for the JSON log (issue 20). pino's default destination
 * hands every line to libuv's thread pool as its own write: a request's log
 * line cost it a write job, a thread wake-up and its completion. While the
 * server serves (`batching(true)`, from Fastify's `onListen` to `onClose`),
 * `info` and `debug` lines are gathered and written together with one
 * synchronous write after at most 50 ms or 64 Ki characters; a `warn`,
 * `error` or `fatal` line writes what is held and itself at once. Outside
 * that window (start-up, CLI commands, shutdown) every line is written when
 * logged, so nothing printed on the terminal (`process.stdout.write`) can
 * overtake a line logged before it.
 *
 * No line is lost when the process ends through Node: a normal exit, a
 * `process.exit`, the graceful stop on SIGTERM/SIGINT (main.ts, which ends
 * in a normal exit) and an uncaught exception all run `exit` listeners, and
 * the one here writes what is held synchronously
 * (`packages/server/test/log-destination.test.ts` proves each with a real
 * process). A process killed outright (SIGKILL, the OOM killer) loses what
 * was gathered in the last 50 ms, where pino's default lost the lines still
 * queued for the thread pool.
 */
export class BatchedLogDestination {
  readonly [NEEDS_METADATA] = true;
  lastLevel = 0;
  private held: string[] = [];
  private chars = 0;
  private timer: NodeJS.Timeout | undefined;
  private on = false;

  constructor(private readonly out: { write(s: string): unknown } = pino.destination({ dest: 1, sync: true })) {}

  write(line: string): void {
    if (!this.on || this.lastLevel >= WARN) {
      this.flushSync();
      this.out.write(line);
      return;
    }
    this.held.push(line);
    this.chars += line.length;
    if (this.chars >= BATCH_CHARS) this.flushSync();
    else if (!this.timer) {
      holding.add(this);
      this.timer = setTimeout(() => this.flushSync(), BATCH_MS).unref();
    }
  }

  /** Writes what is held now. */
  flushSync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    holding.delete(this);
    if (!this.held.length) return;
    const lines = this.held.length === 1 ? this.held[0]! : this.held.join('');
    this.held = [];
    this.chars = 0;
    this.out.write(lines);
  }

  /** pino's `logger.flush(cb)`. */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  /** Gathers `info` lines (while serving) or writes each at once; turning it off writes what is held. */
  batching(on: boolean): void {
    this.on = on;
    if (!on) this.flushSync();
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const d of holding) d.flushSync();
      });
    }
  }
}
