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
 * What to do about EACCES/EPERM on the repository: mover Jobs run non-root, so a repository written by
 * another user (or on storage that ignores fsGroup) is the usual cause.
 */
function accessHint(cause: unknown): string {
  const code = (cause as { code?: unknown } | null)?.code;
  if (code !== 'EACCES' && code !== 'EPERM') return '';
  return ` (running as ${runningAs()}: the repository's files must belong to this user or its group; mount the repository's PVC with fsGroup ${process.getgid?.() ?? ''} or chown it to this user)`;
}

/** The user and groups this process runs as, for permission errors: `uid 65532, groups 65532,6`. */
export function runningAs(): string {
  const groups = process.getgroups?.() ?? [];
  return `uid ${process.getuid?.() ?? '?'}, groups ${groups.join(',') || 'none'}`;
}

const storageErrnos = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE']);
