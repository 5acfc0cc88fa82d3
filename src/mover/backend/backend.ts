/**
 * The storage interface every repository backend implements (directory, S3, memory, retry wrapper).
 * It is deliberately small: whole-object get/put/delete/list by slash-separated keys. Everything
 * above it (packs, indexes, manifests) is content-addressed, so backends never need rename or append.
 */

/** One stored object as listed. */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface Backend {
  /** Where the data lives, for messages (a directory path or `s3://bucket/prefix`). Never secrets. */
  readonly location: string;
  /** Reads a whole object; rejects with {@link NotFoundError} when the key does not exist. */
  get(key: string): Promise<Buffer>;
  /** Reads `length` bytes from `offset` of an object (a pack holds many blocks). */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Writes an object atomically and durably: readers see the whole object or none of it. */
  put(key: string, data: Buffer): Promise<void>;
  /** Returns the object's size, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Deletes an object; deleting a missing key succeeds (idempotent). */
  delete(key: string): Promise<void>;
  /** Lists objects whose key starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * The local file holding an object, for backends whose objects are plain files: restore workers
   * then read packs themselves (one blocking read into a reused buffer, no hand-off).
   */
  localFile?(key: string): string;
}

/** Thrown by {@link Backend.get} and {@link Backend.getRange} for a missing key. */
export class NotFoundError extends Error {
  constructor(
    readonly key: string,
    location: string,
  ) {
    super(`object ${key} not found in ${location}`);
    this.name = 'NotFoundError';
  }
}

/** What a failed storage operation was doing, for {@link StorageError}. */
export interface StorageErrorDetails {
  /** The backend method that failed (`get`, `put`, `list`, ...). */
  op: string;
  /** The object key, or the list prefix. */
  key: string;
  /** The backend's {@link Backend.location}. */
  location: string;
  /** Whether retrying later could succeed (throttling, 5xx, network reset, busy disk). */
  transient: boolean;
  /** How many attempts were made before giving up. */
  attempts: number;
  /** The last underlying error. */
  cause: unknown;
}

/**
 * Any storage failure other than a missing key: names the operation, the key, where, how many attempts
 * were made and the last cause, so the message alone says what went wrong. The mover exits 7 on it.
 */
export class StorageError extends Error {
  readonly op: string;
  readonly key: string;
  readonly location: string;
  readonly transient: boolean;
  readonly attempts: number;

  constructor(details: StorageErrorDetails) {
    const tries = details.attempts > 1 ? ` after ${details.attempts} attempts` : '';
    super(
      `${details.op} ${details.key || '(all keys)'} in ${details.location} failed${tries}: ${describeCause(details.cause)}`,
      {
        cause: details.cause,
      },
    );
    this.name = 'StorageError';
    this.op = details.op;
    this.key = details.key;
    this.location = details.location;
    this.transient = details.transient;
    this.attempts = details.attempts;
  }
}

/** One line for an underlying error: its name or code and message, plus the HTTP status when there is one. */
export function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const e = cause as Error & { code?: unknown; $metadata?: { httpStatusCode?: number } };
  const code = typeof e.code === 'string' ? e.code : e.name;
  const status = e.$metadata?.httpStatusCode;
  const head = code && !e.message.startsWith(code) ? `${code}: ` : '';
  return `${head}${e.message}${status ? ` (HTTP ${status})` : ''}`;
}
