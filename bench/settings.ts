/** Benchmark settings from the environment, shared by every bench entry point. */
function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number ≥ ${min} (got "${raw}")`);
  return n;
}

/** Measured seconds per scenario and server, split over the rounds. */
export const DURATION = envNumber('BENCH_DURATION', 6, 1);
export const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 10, 1));
export const WARMUP = envNumber('BENCH_WARMUP', 1, 0);
/** Targets take turns (A b, b A, …) so drift and noisy neighbours hit both alike. */
export const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 2, 1));
/** BENCH_VERBOSE=1 prints each round's rate to stderr, to judge the noise. */
export const VERBOSE = process.env.BENCH_VERBOSE === '1';
