/**
 * Per-key exponential backoff for retries after errors: base, 2x base, 4x base... capped, reset when the
 * key succeeds. A small deterministic jitter-free schedule keeps tests exact; keys are spread by the
 * timing of their own failures.
 */

/** Decides how long a failing key waits before its next attempt. */
export interface RateLimiter {
  /** Records one more failure of `key` and returns the delay before retrying it. */
  when(key: string): number;
  /** Forgets `key`'s failures (after a success). */
  forget(key: string): void;
  /** Failures recorded for `key` since it last succeeded. */
  retries(key: string): number;
}

/** Options of {@link ExponentialBackoff}. */
export interface BackoffOptions {
  /** First delay (default 100 ms). */
  baseMs?: number;
  /** Upper bound (default 5 min). */
  maxMs?: number;
}

/** `baseMs * 2^(failures-1)`, capped at `maxMs`. */
export class ExponentialBackoff implements RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 100;
    this.maxMs = opts.maxMs ?? 5 * 60_000;
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // Cap the exponent so the multiplication never overflows to Infinity.
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n, 40));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}
