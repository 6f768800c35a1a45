import type pg from 'pg';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { Database } from './schema.js';
import { requireOnUse } from '../startup/lazy.js';

/**
 * Change notifications between processes (docs/scaling.md#changes-take-effect-everywhere):
 * a client, API, tenant, identity provider or signing key changed through one
 * process (the admin API, the CLI) makes every other worker and instance drop
 * what it cached, within a second instead of after a cache timeout.
 *
 * - Redis (REDIS_URL): pub/sub on the channel `tessera:changes`.
 * - PostgreSQL: `LISTEN/NOTIFY` on the channel `tessera_changes`.
 * - SQLite (workers of one machine): a version per topic in `change_signals`,
 *   polled every 250 ms.
 *
 * A subscriber that lost its connection hears `*` (everything may have
 * changed) once it is back, since notifications sent meanwhile are lost.
 */
export type ChangeTopic = 'clients' | 'apis' | 'tenants' | 'identity-providers' | 'keys';
export const CHANGE_TOPICS: readonly ChangeTopic[] = ['clients', 'apis', 'tenants', 'identity-providers', 'keys'];

export interface ChangeBus {
  readonly kind: 'redis' | 'postgres' | 'sqlite';
  /** Tells every process (this one included) that `topic` changed. Never throws: a failure is logged. */
  publish(topic: ChangeTopic): Promise<void>;
  /** `*`: anything may have changed (after a reconnect). */
  subscribe(listener: (topic: ChangeTopic | '*') => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

abstract class BaseBus {
  private readonly listeners: ((topic: ChangeTopic | '*') => void)[] = [];
  constructor(protected readonly log: Log) {}
  subscribe(listener: (topic: ChangeTopic | '*') => void): void {
    this.listeners.push(listener);
  }
  protected emit(topic: string): void {
    const t = topic === '*' || (CHANGE_TOPICS as readonly string[]).includes(topic) ? topic as ChangeTopic | '*' : undefined;
    if (!t) return;
    for (const l of this.listeners) {
      try {
        l(t);
      } catch (err) {
        this.log.warn({ err }, 'change listener failed');
      }
    }
  }
}

/** SQLite: versions in `change_signals`, polled. */
class PollingBus extends BaseBus implements ChangeBus {
  readonly kind = 'sqlite' as const;
  private seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  constructor(private readonly db: Kysely<Database>, log: Log, private readonly everyMs = 250) {
    super(log);
  }
  async publish(topic: ChangeTopic): Promise<void> {
    try {
      const now = Date.now();
      await this.db.insertInto('change_signals').values({ topic, version: 1, changed_at: now })
        .onConflict((oc) => oc.column('topic').doUpdateSet((eb) => ({ version: eb('change_signals.version', '+', 1), changed_at: now }))).execute();
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, topic }, 'change notification failed');
    }
    this.emit(topic);
  }
  private async poll(first = false): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const rows = await this.db.selectFrom('change_signals').select(['topic', 'version']).execute();
      for (const r of rows) {
        const v = Number(r.version);
        if (!first && this.seen.get(r.topic) !== v) this.emit(r.topic);
        this.seen.set(r.topic, v);
      }
    } catch {
      // The database is away: the next poll sees what changed meanwhile.
    } finally {
      this.polling = false;
    }
  }
  async start(): Promise<void> {
    await this.poll(true);
    this.timer = setInterval(() => void this.poll(), this.everyMs);
    this.timer.unref();
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}

const PG_CHANNEL = 'tessera_changes';
/** The driver, loaded on PostgreSQL only (storage/database.ts). */
const pgDriver = requireOnUse<typeof pg>('pg');

/** PostgreSQL: NOTIFY through the pool, LISTEN on a connection of its own (reconnected with a backoff). */
class PostgresBus extends BaseBus implements ChangeBus {
  readonly kind = 'postgres' as const;
  private client: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** One channel per schema: deployments (and test runs) sharing a database stay apart. */
  private channel = PG_CHANNEL;
  constructor(private readonly db: Kysely<Database>, private readonly url: string, log: Log) {
    super(log);
  }
  private resolved: Promise<void> | undefined;
  /** The store's schema names the channel (a publisher that never listens, the CLI, needs it too). */
  private resolveChannel(): Promise<void> {
    this.resolved ??= sql<{ s: string | null }>`select current_schema() as s`.execute(this.db).then(({ rows }) => {
      const schema = rows[0]?.s;
      if (schema && schema !== 'public' && /^[a-z_][a-z0-9_]{0,40}$/.test(schema)) this.channel = `${PG_CHANNEL}_${schema}`;
    }, (err: unknown) => {
      this.resolved = undefined;
      throw err;
    });
    return this.resolved;
  }
  async publish(topic: ChangeTopic): Promise<void> {
    try {
      await this.resolveChannel();
      await sql`select pg_notify(${this.channel}, ${topic})`.execute(this.db);
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, topic }, 'change notification failed');
      this.emit(topic);
    }
  }
  private async connect(reconnect: boolean): Promise<void> {
    const client = new (pgDriver().Client)({ connectionString: this.url, keepAlive: true, application_name: 'tessera-listen' });
    client.on('error', () => this.reconnectSoon());
    client.on('end', () => this.reconnectSoon());
    client.on('notification', (n) => {
      if (n.channel === this.channel && n.payload) this.emit(n.payload);
    });
    this.client = client;
    await client.connect();
    await client.query(`LISTEN "${this.channel}"`);
    if (reconnect) {
      this.log.info({}, 'change notifications: listening again');
      this.emit('*');
    }
  }
  private reconnectSoon(): void {
    if (this.stopped || this.retry) return;
    const old = this.client;
    this.client = undefined;
    old?.removeAllListeners('end');
    old?.end().catch(() => {});
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.resolveChannel().then(() => this.connect(true)).catch((err) => {
        this.log.warn({ err: { message: (err as Error).message } }, 'change notifications: cannot listen; retrying');
        this.reconnectSoon();
      });
    }, 1000);
    this.retry.unref();
  }
  async start(): Promise<void> {
    try {
      await this.resolveChannel();
      await this.connect(false);
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'change notifications: cannot listen; retrying');
      this.reconnectSoon();
    }
  }
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    c?.removeAllListeners('end');
    await c?.end().catch(() => {});
  }
}

const REDIS_CHANNEL = 'tessera:changes';

/** Redis: PUBLISH on the command connection, SUBSCRIBE on a duplicate (ioredis resubscribes after a reconnect). */
class RedisBus extends BaseBus implements ChangeBus {
  readonly kind = 'redis' as const;
  private sub: Redis | undefined;
  constructor(private readonly redis: Redis, private readonly prefix: string, log: Log) {
    super(log);
  }
  async publish(topic: ChangeTopic): Promise<void> {
    try {
      await this.redis.publish(`${this.prefix}${REDIS_CHANNEL}`, topic);
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, topic }, 'change notification failed');
      this.emit(topic);
    }
  }
  async start(): Promise<void> {
    const sub = this.redis.duplicate();
    this.sub = sub;
    let lost = false;
    sub.on('error', () => {});
    sub.on('close', () => {
      lost = true;
    });
    sub.on('ready', () => {
      if (lost) {
        lost = false;
        this.log.info({}, 'change notifications: subscribed again');
        this.emit('*');
      }
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel === `${this.prefix}${REDIS_CHANNEL}`) this.emit(message);
    });
    await sub.subscribe(`${this.prefix}${REDIS_CHANNEL}`).catch((err: Error) => this.log.warn({ err: { message: err.message } }, 'change notifications: cannot subscribe; retrying'));
  }
  async stop(): Promise<void> {
    this.sub?.disconnect();
  }
}

export interface ChangeBusOptions {
  db: Kysely<Database>;
  engine: 'sqlite' | 'postgres';
  databaseUrl: string;
  redis?: { client: Redis; prefix: string };
  log: Log;
}

/** Redis when configured, else what the database offers. */
export function createChangeBus(o: ChangeBusOptions): ChangeBus {
  if (o.redis) return new RedisBus(o.redis.client, o.redis.prefix, o.log);
  if (o.engine === 'postgres') return new PostgresBus(o.db, pgUrlWithoutSchema(o.databaseUrl), o.log);
  return new PollingBus(o.db, o.log);
}

function pgUrlWithoutSchema(url: string): string {
  const u = new URL(url);
  u.searchParams.delete('schema');
  return u.toString();
}
