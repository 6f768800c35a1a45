import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

/** The real `tessera` command, run in child processes as an operator would. */
export const BIN = resolve(import.meta.dirname, '../../bin/tessera.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tessera ARGS` with exactly `env` (plus PATH/HOME); resolves when it exits. `input` is written to its stdin. */
export function runTessera(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

export interface ServerProcess {
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | null>;
}

/** Starts `tessera serve` and resolves once it listens. */
export function startTessera(env: Record<string, string>): Promise<ServerProcess> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, 'serve'], { env: baseEnv(env) });
    let out = '';
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Tessera is listening')) {
        done({
          child, output: () => out,
          async stop() {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => fail(new Error(`server exited early (${code}): ${out}`)));
  });
}

/**
 * Only what the child needs from this process: tests must not leak the runner's PORT, TESSERA_* or
 * DATABASE_URL into a command that is meant to run without them.
 */
function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // TESSERA_FROM_SOURCE (set by the vitest configs): the child runs the sources, like the test.
  const fromSource = process.env.TESSERA_FROM_SOURCE ? { TESSERA_FROM_SOURCE: process.env.TESSERA_FROM_SOURCE } : {};
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), LOG_LEVEL: 'warn', ...fromSource, ...env };
}

export interface CliStore {
  dir: string;
  /** DATABASE_URL for the server and the CLI: a SQLite file, or its own PostgreSQL schema when TEST_DATABASE_URL is set. */
  databaseUrl: string;
  dispose(): Promise<void>;
}

/** A data directory and a store URL that both the server and CLI processes open. */
export function createCliStore(): CliStore {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (!pgUrl) {
    return { dir, databaseUrl: `sqlite:${join(dir, 'tessera.db')}`, async dispose() { rmSync(dir, { recursive: true, force: true }); } };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const url = new URL(pgUrl);
  url.searchParams.set('schema', schema);
  return {
    dir, databaseUrl: url.href,
    async dispose() {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
