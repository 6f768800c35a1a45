// autocannon ships no type definitions; this covers the little the benchmark uses.
declare module 'autocannon' {
  /** What one autocannon run returns off the main thread: histograms still encoded. */
  export interface RawResult {
    totalCompletedRequests: number;
    totalRequests: number;
    /** Seconds, measured. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
    [key: string]: unknown;
  }

  /** Percentiles are keyed p50, p99, p99_9 …; latencies are in milliseconds. */
  export interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total?: number;
    [percentile: `p${string}`]: number;
  }

  export interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
    latency: Histogram;
    requests: Histogram;
  }

  export interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    duration?: number;
    pipelining?: number;
    timeout?: number;
  }

  function autocannon(opts: Options): Promise<Result>;
  namespace autocannon {
    /** Merges results of several runs (autocannon's own multi-worker mode uses it). */
    function aggregateResult(results: RawResult[], opts: Options): Result;
  }
  export default autocannon;
}
