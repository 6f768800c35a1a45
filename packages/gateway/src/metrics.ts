import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { FailureReason } from './token.js';

const UPSTREAM_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** HTTP status codes are three digits (Node refuses others): counted by index, no hashing per request. */
const STATUS_SLOTS = 1000;

/**
 * One route's per-request tallies, kept as plain numbers on the hot path and
 * turned into Prometheus samples at scrape time. The handler holds one per
 * route, so counting a request is an array increment, not a lookup.
 */
export class RouteTally {
  /** Requests by status code, since the last scrape. */
  readonly statuses = new Float64Array(STATUS_SLOTS);
  readonly buckets = new Float64Array(UPSTREAM_BUCKETS.length);
  sum = 0;
  count = 0;

  request(status: number): void {
    this.statuses[status >= 0 && status < STATUS_SLOTS ? status : 0]!++;
  }

  upstreamSeconds(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < UPSTREAM_BUCKETS.length; i++) {
      if (seconds <= UPSTREAM_BUCKETS[i]!) {
        this.buckets[i]!++;
        break;
      }
    }
  }
}

/**
 * Prometheus metrics, one registry per gateway (several may run in one test
 * process). Label values are bounded: routes are the declared ones (or
 * "unmatched"/"gateway"), failure reasons a fixed set.
 *
 * The two per-request metrics (requests by route and status, upstream
 * latency) are counted in plain arrays (RouteTally) and only handed to
 * prom-client when /metrics is scraped: prom-client resolves and hashes the
 * label set on every `inc`/`observe`, which cost more per request than the
 * rest of the gateway's own pipeline (bench/README.md).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly tallies = new Map<string, RouteTally>();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly failures = new Counter({
    name: 'tessera_gateway_token_failures_total', help: 'Refused bearer tokens by reason',
    labelNames: ['reason'] as const, registers: [this.registry],
  });
  readonly jwksFetches = new Counter({
    name: 'tessera_gateway_jwks_fetches_total', help: 'JWKS fetches by reason and outcome',
    labelNames: ['reason', 'outcome'] as const, registers: [this.registry],
  });
  readonly introspections = new Counter({
    name: 'tessera_gateway_introspections_total', help: 'Introspection answers by outcome (cache hits included)',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });
  /** Calls refused by IP policy: `source` is `route` (allowed_ips) or `client` (the token's ip_allowlist). */
  readonly ipRefusals = new Counter({
    name: 'tessera_gateway_ip_refusals_total', help: 'Calls refused because of their source address, by which list refused them',
    labelNames: ['source'] as const, registers: [this.registry],
  });
  readonly tokenCacheSize = new Gauge({
    name: 'tessera_gateway_token_cache_entries', help: 'Verified tokens currently remembered', registers: [this.registry],
  });

  constructor() {
    const tallies = this.tallies;
    this.requests = new Counter({
      name: 'tessera_gateway_requests_total', help: 'Requests by route and status',
      labelNames: ['route', 'status'] as const, registers: [this.registry],
      // At scrape time: move what was counted since the last scrape into the counter.
      collect() {
        for (const [route, t] of tallies) {
          const statuses = t.statuses;
          for (let status = 0; status < statuses.length; status++) {
            const n = statuses[status]!;
            if (n === 0) continue;
            this.inc({ route, status: String(status) }, n);
            statuses[status] = 0;
          }
        }
      },
    });
    this.registry.registerMetric(upstreamHistogram(tallies) as unknown as Metric);
    collectDefaultMetrics({ register: this.registry, prefix: 'tessera_gateway_' });
  }

  /** The tallies of one route label (created on first use; the hot path keeps the handle). */
  tally(route: string): RouteTally {
    let t = this.tallies.get(route);
    if (!t) {
      t = new RouteTally();
      this.tallies.set(route, t);
    }
    return t;
  }

  request(route: string, status: number): void {
    this.tally(route).request(status);
  }

  upstreamSeconds(route: string, seconds: number): void {
    this.tally(route).upstreamSeconds(seconds);
  }

  tokenFailure(reason: FailureReason | 'unavailable'): void {
    this.failures.labels(reason).inc();
  }
}

/**
 * `tessera_gateway_upstream_duration_seconds`, a Prometheus histogram by
 * route, rendered from the tallies in prom-client's metric shape (buckets
 * cumulative, plus _sum and _count), so the registry prints it like its own.
 */
function upstreamHistogram(tallies: Map<string, RouteTally>) {
  const name = 'tessera_gateway_upstream_duration_seconds';
  return {
    name,
    help: 'Time from forwarding a request to the end of the upstream response, by route',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
      for (const [route, t] of tallies) {
        if (t.count === 0) continue;
        let cumulative = 0;
        UPSTREAM_BUCKETS.forEach((le, i) => {
          cumulative += t.buckets[i]!;
          values.push({ value: cumulative, labels: { le, route }, metricName: `${name}_bucket` });
        });
        values.push({ value: t.count, labels: { le: '+Inf', route }, metricName: `${name}_bucket` });
        values.push({ value: t.sum, labels: { route }, metricName: `${name}_sum` });
        values.push({ value: t.count, labels: { route }, metricName: `${name}_count` });
      }
      return { name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
}
