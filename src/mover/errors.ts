/**
 * Mover errors and their process exit codes: the one place the exit-code contract of
 * docs/design.md ("Contract: the mover CLI") is written down in code.
 */
import { StorageError } from './backend/backend.js';

/** Exit codes of `csbs mover`, as documented in docs/design.md, docs/mover.md and the README. */
export const ExitCode = {
  Ok: 0,
  Unexpected: 1,
  Usage: 2,
  WrongKey: 3,
  NotFound: 4,
  Corrupt: 5,
  /** The restore target is smaller than the volume or not writable, or the backup source cannot be read. */
  BadVolume: 6,
  /** The storage failed (after retries), e.g. the disk is full or S3 keeps answering 500. */
  Storage: 7,
} as const;

/** The machine-readable error codes written to the summary's `error.code`. */
export type ErrorCode =
  | 'Unexpected'
  | 'Usage'
  | 'WrongKey'
  | 'NotFound'
  | 'Corrupt'
  | 'TargetTooSmall'
  | 'TargetUnwritable'
  | 'SourceUnreadable'
  | 'Storage';

const exitCodes: Record<ErrorCode, number> = {
  Unexpected: ExitCode.Unexpected,
  Usage: ExitCode.Usage,
  WrongKey: ExitCode.WrongKey,
  NotFound: ExitCode.NotFound,
  Corrupt: ExitCode.Corrupt,
  TargetTooSmall: ExitCode.BadVolume,
  TargetUnwritable: ExitCode.BadVolume,
  SourceUnreadable: ExitCode.BadVolume,
  Storage: ExitCode.Storage,
};

/** An error the mover expects and reports with a code, a message and a specific exit code. */
export class MoverError extends Error {
  readonly exitCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MoverError';
    this.exitCode = exitCodes[code];
  }
}

/** Bad command-line input (exit 2). */
export function usageError(message: string): MoverError {
  return new MoverError('Usage', message);
}

/** Maps any thrown value to a MoverError, classifying storage failures (ENOSPC, EIO, ...) as exit 7. */
export function toMoverError(err: unknown): MoverError {
  if (err instanceof MoverError) return err;
  if (err instanceof StorageError)
    return new MoverError('Storage', `storage failure: ${err.message}${accessHint(err.cause)}`, {
      cause: err,
    });
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && storageErrnos.has(code)) {
    return new MoverError('Storage', `storage failure: ${message}${accessHint(err)}`, { cause: err });
  }
  return new MoverError('Unexpected', message, { cause: err });
}

/**
 * ` (running as uid U, groups G: <advice>)` when `err` is EACCES or EPERM, else nothing. Mover Jobs run
 * as a non-root user, so a file another user wrote is the usual cause.
 */
export function permissionHint(err: unknown, advice: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'EACCES' && code !== 'EPERM') return '';
  const groups = process.getgroups?.() ?? [];
  return ` (running as uid ${process.getuid?.() ?? '?'}, groups ${groups.join(',') || 'none'}: ${advice})`;
}

/** What to do when the repository refuses the mover's user. */
function accessHint(cause: unknown): string {
  return permissionHint(
    cause,
    `the repository's files must belong to this user or its group; mount the repository's PVC with fsGroup ${process.getgid?.() ?? ''} or chown it to this user`,
  );
}

const storageErrnos = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE']);
