import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/app.js';
import { sleep, startServer } from '../fault/harness.js';
import type { Server, ServerOptions } from '../fault/harness.js';

/**
 * Multi-instance kit: Debian's `haproxy` in front of several real `tessera
 * serve` processes (round robin, no stickiness), and a `redis-server` of the
 * test's own (so stopping it never touches the machine's shared Redis).
 */
export const HAPROXY = '/usr/sbin/haproxy';
export const REDIS_SERVER = '/usr/bin/redis-server';

/** Fails with a clear message when a Debian package the suite needs is missing (CI installs them: .ci/run). */
export function requireBinaries(): void {
  for (const [bin, pkg] of [[HAPROXY, 'haproxy'], [REDIS_SERVER, 'redis-server']] as const) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: apt-get install -y ${pkg} (see .ci/run)`);
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, withinMs: number): Promise<void> {
  const started = Date.now();
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > withinMs) throw new Error(`${what} not within ${withinMs} ms`);
    await sleep(50);
  }
}

const tcpOpen = (port: number) => import('node:net').then(({ connect }) => new Promise<boolean>((done) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => {
    s.destroy();
    done(true);
  });
  s.once('error', () => done(false));
}));

export interface OwnRedis {
  url: string;
  port: number;
  /** SIGKILL: an outage as a crash or a network cut looks to clients. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: it keeps nothing on disk). */
  start(): Promise<void>;
}

/** A `redis-server` on a free port, persisting nothing. */
export async function ownRedis(dir: string): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitFor('redis-server listening', () => tcpOpen(port), 10_000);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    },
    start,
  };
}

export interface Balancer {
  url: string;
  port: number;
  stop(): Promise<void>;
  output(): string;
}

/**
 * haproxy: round robin per request (`http-server-close`: each request is
 * balanced on its own, as with no stickiness at all), health checks on
 * `/readyz` every 200 ms (three failures take a server out, about 0.6 s, well
 * within the instances' shutdown delay; two successes bring it back; one slow
 * check on a busy machine takes nobody out), retries with redispatch for refused connections, and
 * `X-Served-By` on every answer so tests can see which instance answered.
 */
export async function startBalancer(dir: string, backends: number[]): Promise<Balancer> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout check 3s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  retries 3',
    '  option redispatch 1',
    '  option http-server-close',
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  option forwardfor',
    '  default_backend tessera',
    'backend tessera',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 200ms fall 3 rise 2',
    '  http-response set-header X-Served-By %[srv_name]',
    ...backends.map((p, i) => `  server t${i + 1} 127.0.0.1:${p} check`),
    '',
  ].join('\n'));
  let out = '';
  const child = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor(`haproxy listening (${out})`, () => tcpOpen(port), 10_000);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits until the balancer has every backend in service (all of `count` answer within a few requests). */
export async function waitAllInService(balancer: Balancer, count: number, withinMs = 20_000): Promise<void> {
  await waitFor(`${count} instances in service`, async () => {
    const seen = new Set<string>();
    for (let i = 0; i < count * 3; i++) {
      const res = await fetch(`${balancer.url}/readyz`);
      if (res.status === 200) seen.add(res.headers.get('x-served-by') ?? '');
    }
    return seen.size === count;
  }, withinMs);
}

export interface Cluster {
  issuer: string;
  balancer: Balancer;
  instances: Server[];
  /** Starts instance `i` again on its port (after it stopped or was killed). */
  restart(i: number): Promise<Server>;
  stop(): Promise<void>;
}

/**
 * `count` instances on one database and Redis, all with the balancer's URL as
 * their issuer (one platform), behind haproxy. The first starts alone (it
 * migrates and applies the file); the others start together.
 */
export async function startCluster(opts: Omit<ServerOptions, 'port'> & { count: number }): Promise<Cluster> {
  const ports = await Promise.all(Array.from({ length: opts.count }, () => freePort()));
  const balancer = await startBalancer(opts.dir, ports);
  // Two proxies: haproxy, and in front of it the tests themselves, whose X-Forwarded-For names the client
  // address each check plays (haproxy appends 127.0.0.1 to it). Behind one real balancer: TESSERA_TRUST_PROXY=true.
  const env = { ...opts.env, TESSERA_ISSUER: balancer.url, TESSERA_TRUST_PROXY: '2' };
  const start = (i: number) => startServer({ ...opts, env, port: ports[i]! });
  const instances: Server[] = [await start(0)];
  instances.push(...await Promise.all(ports.slice(1).map((_, i) => start(i + 1))));
  await waitAllInService(balancer, opts.count);
  return {
    issuer: balancer.url,
    balancer,
    instances,
    async restart(i) {
      instances[i] = await start(i);
      return instances[i]!;
    },
    async stop() {
      await Promise.all(instances.map((s) => s.stop()));
      await balancer.stop();
    },
  };
}

/** The value of a Prometheus gauge or counter (no labels) on one instance. */
export async function metric(server: Server, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}
