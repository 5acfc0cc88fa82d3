/**
 * Retries for storage: a backoff policy (exponential, full jitter, bounded attempts), the rule for which
 * errors are worth retrying, and `RetryBackend`, a wrapper that retries any backend's transient failures
 * and then fails with one clear {@link StorageError}.
 */
import { type Backend, NotFoundError, type ObjectInfo, StorageError } from './backend.js';

/** How often and how patiently to retry. Tests inject `sleep` and `random` so no test waits for real. */
export interface RetryPolicy {
  /** Total attempts including the first (>= 1). */
  attempts: number;
  /** The delay cap of the first retry in ms; it doubles for each further retry. */
  baseDelayMs: number;
  /** No single delay exceeds this. */
  maxDelayMs: number;
  /** Waits `ms`; defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1); defaults to Math.random. */
  random?: () => number;
}

/** What {@link RetryBackend} reports before each retry, for progress lines and logs (never secrets). */
export interface RetryEvent {
  op: string;
  key: string;
  /** The attempt that just failed (1 = the first). */
  attempt: number;
  delayMs: number;
  error: unknown;
}

/** Defaults for real storage: 6 attempts over roughly half a minute at worst. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 15_000 };

/**
 * The delay before retry number `retry` (0 = the first retry): "full jitter", a uniform pick in
 * [0, min(max, base * 2^retry)), so many clients throttled together do not retry in lockstep.
 */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor((policy.random ?? Math.random)() * cap);
}

const transientStatus = new Set([408, 429, 500, 502, 503, 504]);
const transientNames = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);
// Network resets and local conditions that often pass: a busy or full disk (gc may free space), too many
// open files, an NFS hiccup. A missing file or a permission error is not among them.
const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ENOSPC',
  'EDQUOT',
  'EIO',
]);

/** Whether an error from a backend (or the S3 SDK, or Node's fs/net) may pass if retried. */
export function isTransientError(error: unknown): boolean {
  if (error instanceof NotFoundError) return false;
  if (error instanceof StorageError) return error.transient;
  if (!(error instanceof Error)) return false;
  const e = error as Error & {
    code?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && transientStatus.has(status)) return true;
  if (transientNames.has(e.name)) return true;
  if (typeof e.code === 'string' && transientCodes.has(e.code)) return true;
  if (/socket hang up|ECONNRESET|EPIPE/.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== error && isTransientError(e.cause);
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` under `policy`: retries transient errors with backoff; a permanent error or the last attempt's
 * error becomes a {@link StorageError} naming `op`, `key` and the cause. {@link NotFoundError} passes
 * through untouched (a missing key is an answer, not a failure).
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  what: { op: string; key: string; location: string },
  fn: () => Promise<T>,
  onRetry?: (event: RetryEvent) => void,
): Promise<T> {
  const sleep = policy.sleep ?? realSleep;
  const attempts = Math.max(1, policy.attempts);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof NotFoundError) throw error;
      const transient = isTransientError(error);
      if (!transient || attempt >= attempts) {
        // An inner StorageError already names the operation; keep its cause so the message stays one line.
        const cause = error instanceof StorageError ? (error.cause ?? error) : error;
        throw new StorageError({ ...what, transient, attempts: attempt, cause });
      }
      const delayMs = backoffDelay(policy, attempt - 1);
      onRetry?.({ op: what.op, key: what.key, attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}

/** Options of {@link RetryBackend}. */
export interface RetryBackendOptions {
  policy?: RetryPolicy;
  onRetry?: (event: RetryEvent) => void;
}

/**
 * Wraps any backend so transient failures (S3 throttling and 5xx, network resets, a busy or full disk) are
 * retried with exponential backoff and jitter, then reported as one {@link StorageError}. Every operation
 * of the interface is idempotent (puts are whole-object and content-addressed), so a retry is always safe.
 */
export class RetryBackend implements Backend {
  readonly location: string;
  private readonly policy: RetryPolicy;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(
    readonly inner: Backend,
    options: RetryBackendOptions = {},
  ) {
    this.location = inner.location;
    this.policy = options.policy ?? defaultRetryPolicy;
    this.onRetry = options.onRetry;
    if (inner.localFile) this.localFile = (key) => inner.localFile!(key);
  }

  localFile?: (key: string) => string;

  private run<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    return withRetries(this.policy, { op, key, location: this.location }, fn, this.onRetry);
  }

  get(key: string): Promise<Buffer> {
    return this.run('get', key, () => this.inner.get(key));
  }

  getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return this.run('getRange', key, () => this.inner.getRange(key, offset, length));
  }

  put(key: string, data: Buffer): Promise<void> {
    return this.run('put', key, () => this.inner.put(key, data));
  }

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.run('stat', key, () => this.inner.stat(key));
  }

  delete(key: string): Promise<void> {
    return this.run('delete', key, () => this.inner.delete(key));
  }

  /**
   * A listing that fails midway restarts from the beginning and skips the keys it already yielded, so
   * callers see each key once. That costs a set of the yielded keys, which is fine for our key counts.
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const seen = new Set<string>();
    const sleep = this.policy.sleep ?? realSleep;
    const attempts = Math.max(1, this.policy.attempts);
    let failures = 0;
    for (;;) {
      try {
        for await (const info of this.inner.list(prefix)) {
          if (seen.has(info.key)) continue;
          seen.add(info.key);
          yield info;
        }
        return;
      } catch (error) {
        failures++;
        const transient = isTransientError(error);
        if (!transient || failures >= attempts) {
          const cause = error instanceof StorageError ? (error.cause ?? error) : error;
          throw new StorageError({
            op: 'list',
            key: prefix,
            location: this.location,
            transient,
            attempts: failures,
            cause,
          });
        }
        const delayMs = backoffDelay(this.policy, failures - 1);
        this.onRetry?.({ op: 'list', key: prefix, attempt: failures, delayMs, error });
        await sleep(delayMs);
      }
    }
  }
}
