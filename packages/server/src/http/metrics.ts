import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics, one registry per app instance (several apps may run in one test process). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'tessera_http_requests_total', help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const, registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'tessera_http_request_duration_seconds', help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const, registers: [this.registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  readonly tokens = new Counter({
    name: 'tessera_tokens_issued_total', help: 'Successful token endpoint responses by grant type',
    labelNames: ['grant_type'] as const, registers: [this.registry],
  });
  readonly tokenErrors = new Counter({
    name: 'tessera_token_errors_total', help: 'Failed token endpoint requests by error code',
    labelNames: ['error'] as const, registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'tessera_logins_total', help: 'Password sign-in attempts by outcome',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });

  /** Federated sign-ins (docs/federation.md#metrics): upstream round-trip time (callback: code exchange, token checks, profile) per provider. */
  readonly federationLatency = new Histogram({
    name: 'tessera_federation_upstream_seconds', help: 'Time of the upstream part of a federated sign-in callback, by provider and outcome',
    labelNames: ['provider', 'outcome'] as const, registers: [this.registry],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  readonly federationLogins = new Counter({
    name: 'tessera_federation_logins_total', help: 'Federated sign-ins by provider and outcome (ok, or the failure reason)',
    labelNames: ['provider', 'outcome'] as const, registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
  }
}
