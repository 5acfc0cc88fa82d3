/** An in-memory backend for fast tests: same semantics as the directory backend, nothing durable. */
import { type Backend, type ObjectInfo, NotFoundError } from './backend.js';
import { checkObjectKey } from './directory.js';

/** Keeps objects in a Map; copies on put and get so callers can never alias stored bytes. */
export class MemoryBackend implements Backend {
  readonly location = 'memory:';
  private readonly objects = new Map<string, Buffer>();

  async get(key: string): Promise<Buffer> {
    checkObjectKey(key);
    const data = this.objects.get(key);
    if (!data) throw new NotFoundError(key, this.location);
    return Buffer.from(data);
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    checkObjectKey(key);
    const data = this.objects.get(key);
    if (!data) throw new NotFoundError(key, this.location);
    if (offset < 0 || length < 0 || offset + length > data.length) {
      throw new Error(
        `range ${offset}+${length} of ${key} is past the end of the object (${data.length} bytes)`,
      );
    }
    return Buffer.from(data.subarray(offset, offset + length));
  }

  async put(key: string, data: Buffer): Promise<void> {
    checkObjectKey(key);
    this.objects.set(key, Buffer.from(data));
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    checkObjectKey(key);
    const data = this.objects.get(key);
    return data ? { key, size: data.length } : undefined;
  }

  async delete(key: string): Promise<void> {
    checkObjectKey(key);
    this.objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, data] of [...this.objects]) {
      if (key.startsWith(prefix)) yield { key, size: data.length };
    }
  }
}
