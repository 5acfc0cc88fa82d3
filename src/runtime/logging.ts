/**
 * Structured JSON logs (winston), one object per line: `{"level","time","msg",...fields}`. Reconcile
 * loggers carry `controller`, `namespace` and `name` of the object; secrets must never be passed in.
 */
import type { Writable } from 'node:stream';
import winston from 'winston';
import { systemClock, type Clock } from './clock.js';

/** The logger type every runtime and controller function takes. */
export type Logger = winston.Logger;

/** Log levels accepted by `--log-level`. */
export const logLevels = ['error', 'warn', 'info', 'debug'] as const;
/** One of {@link logLevels}. */
export type LogLevel = (typeof logLevels)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go (default stdout). */
  stream?: Writable;
  clock?: Clock;
  /** Fields on every line, e.g. `{ component: 'controller' }`. */
  defaultMeta?: Record<string, unknown>;
}

/** Creates a JSON-lines logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const clock = opts.clock ?? systemClock;
  const stamp = winston.format((info) => {
    info.time = clock.now().toISOString();
    return info;
  });
  const rename = winston.format((info) => {
    // `msg` is the field name Kubernetes log tooling expects for JSON logs.
    if (info.message !== undefined) {
      info.msg = info.message;
      delete (info as { message?: unknown }).message;
    }
    return info;
  });
  return winston.createLogger({
    level: opts.level ?? 'info',
    levels: winston.config.npm.levels,
    defaultMeta: opts.defaultMeta,
    format: winston.format.combine(
      stamp(),
      winston.format.errors({ stack: false }),
      rename(),
      winston.format.json(),
    ),
    transports: [
      opts.stream ? new winston.transports.Stream({ stream: opts.stream }) : new winston.transports.Console(),
    ],
  });
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}

/** The error's message and Status reason, in a form safe to log. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const reason = (err as { reason?: unknown }).reason;
    return { error: err.message, ...(typeof reason === 'string' ? { reason } : {}) };
  }
  return { error: String(err) };
}
