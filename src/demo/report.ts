/**
 * How `csbs demo` talks to the user: one line when a step starts, indented detail lines while it runs,
 * and the step's duration when it ends, all stamped with the time since the demo began. Every step has a
 * deadline, so the demo ends with a reason instead of hanging.
 */
import type { Writable } from 'node:stream';

/** Raised when a step misses its deadline; names the step and what it was waiting for. */
export class StepTimeoutError extends Error {
  constructor(step: string, timeoutMs: number, waitingFor: string | undefined) {
    super(
      `step "${step}" timed out after ${formatSeconds(timeoutMs)}` +
        (waitingFor ? ` waiting for ${waitingFor}` : ''),
    );
    this.name = 'StepTimeoutError';
  }
}

/** What a running step can do: print details, say what it waits for, notice its deadline. */
export interface StepContext {
  /** Prints an indented detail line under the step. */
  detail(line: string): void;
  /** Aborted when the step's deadline passes. */
  signal: AbortSignal;
  /** Records what the step waits for, so a timeout can say it. */
  waitingFor(what: string): void;
}

/** Prints steps with timings to a stream (stdout by default). */
export class Reporter {
  private readonly started: number;
  private stepNumber = 0;

  /**
   * @param out where lines go
   * @param cancel aborting it (Ctrl-C) ends the running step at once with its reason
   */
  constructor(
    private readonly out: Writable = process.stdout,
    private readonly cancel?: AbortSignal,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.started = now();
  }

  /** Seconds since the demo began. */
  elapsedMs(): number {
    return this.now() - this.started;
  }

  /** A line with no step (header, table, final words). */
  line(text = ''): void {
    this.out.write(`${text}\n`);
  }

  /**
   * Runs one step: prints its title, runs `fn` with a deadline of `timeoutMs`, prints `ok (1.2s)` or
   * the failure, and returns `fn`'s value (or throws, the step's name in the message).
   */
  async step<T>(title: string, timeoutMs: number, fn: (ctx: StepContext) => Promise<T>): Promise<T> {
    const n = ++this.stepNumber;
    const began = this.now();
    this.out.write(`${this.stamp()} ${n}. ${title}\n`);
    const controller = new AbortController();
    let waiting: string | undefined;
    const ctx: StepContext = {
      detail: (text) => this.out.write(`${' '.repeat(this.stamp().length + 1)}   ${text}\n`),
      signal: controller.signal,
      waitingFor: (what) => {
        waiting = what;
      },
    };
    let timer: NodeJS.Timeout | undefined;
    let onCancel: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new StepTimeoutError(title, timeoutMs, waiting);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
      onCancel = () => {
        const err = new Error(`step "${title}" interrupted: ${String(this.cancel?.reason ?? 'cancelled')}`);
        controller.abort(err);
        reject(err);
      };
      if (this.cancel?.aborted) onCancel();
      else this.cancel?.addEventListener('abort', onCancel, { once: true });
    });
    try {
      const value = await Promise.race([fn(ctx), deadline]);
      ctx.detail(`ok (${formatSeconds(this.now() - began)})`);
      return value;
    } catch (err) {
      controller.abort(err);
      throw err;
    } finally {
      clearTimeout(timer);
      if (onCancel) this.cancel?.removeEventListener('abort', onCancel);
    }
  }

  private stamp(): string {
    return `[${formatSeconds(this.elapsedMs()).padStart(6)}]`;
  }
}

/** `1.2s`, `34s`. */
export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`;
}

/** Bytes in binary units as kubectl users read them: `512B`, `4.0KiB`, `64.0MiB`. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n}B` : `${v.toFixed(1)}${units[u]}`;
}

/**
 * Polls `probe` until it returns something other than `undefined`, every `everyMs`, until `signal`
 * aborts (then rejects with the abort reason). Errors of `probe` propagate at once.
 */
export async function waitUntil<T>(
  signal: AbortSignal,
  probe: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  for (;;) {
    signal.throwIfAborted();
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, everyMs);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
