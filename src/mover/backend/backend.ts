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
