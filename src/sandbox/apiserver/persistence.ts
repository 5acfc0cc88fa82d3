/**
 * Optional persistence of the store to a state directory: one JSON file, written atomically (temp file
 * + rename) shortly after changes and on shutdown, so a stopped sandbox starts again where it was.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStore, StoreSnapshot } from './store.js';

/** File name of the saved store inside the state directory. */
export const STATE_FILE = 'apiserver-state.json';

/** Saves a store to a directory, debounced. */
export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly dir: string,
    private readonly store: ObjectStore,
    private readonly delayMs = 200,
  ) {}

  /** Reads a saved snapshot, if there is one. */
  async load(): Promise<StoreSnapshot | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, STATE_FILE), 'utf8')) as StoreSnapshot;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read sandbox state ${join(this.dir, STATE_FILE)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Notes a change; the store is written after a short quiet period. */
  changed(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.delayMs);
    this.timer.unref();
  }

  /** Writes now if anything changed. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await mkdir(this.dir, { recursive: true });
      const file = join(this.dir, STATE_FILE);
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(this.store.snapshot()));
      await rename(tmp, file);
    });
    return this.writing;
  }
}
