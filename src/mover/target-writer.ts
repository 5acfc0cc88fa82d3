/**
 * The only writer of a restore target. Writes go one at a time, merged into runs of consecutive
 * offsets: a Linux file system serialises writes that allocate blocks in one file (ext4 holds the
 * inode lock for each), and workers writing it concurrently spent their time waiting on that lock
 * instead of decoding. Aligned runs (all but a short last block) are written with O_DIRECT from the
 * pool's page-aligned slots: no copy into the page cache, whose growth is the costliest part of a
 * restore on a virtual machine. Buffered writes, if any, are flushed every {@link WRITEBACK_BYTES},
 * so the final fsync that makes the restore durable has little left to wait for.
 */
import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { DIRECT_ALIGN } from './aligned.js';

/** Runs shorter than this are written through the page cache even when O_DIRECT is possible. */
const DIRECT_MIN_RUN = 1 << 20;
/** Written bytes between early flushes of the target. */
const WRITEBACK_BYTES = 128 << 20;

/** One write of a decoded range: `length` bytes at `from` in the buffer go to `position` in the target. */
export interface Write {
  position: number;
  from: number;
  length: number;
}

export class TargetWriter {
  private queue: Promise<unknown> = Promise.resolve();
  private flushing?: Promise<void>;
  private buffered = 0;
  private flushedAt = 0;
  private failure: unknown;

  private constructor(
    private readonly fh: fsp.FileHandle,
    private direct: fsp.FileHandle | undefined,
  ) {}

  static async open(target: string): Promise<TargetWriter> {
    const fh = await fsp.open(target, 'r+');
    // tmpfs and some file systems refuse O_DIRECT (EINVAL): then every write is buffered.
    const direct = await fsp
      .open(target, constants.O_WRONLY | constants.O_DIRECT)
      .catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
        throw err;
      })
      .catch(async (err: unknown) => {
        await fh.close();
        throw err;
      });
    return new TargetWriter(fh, direct);
  }

  /** Writes `writes` from `buf` (after the writes queued before) and resolves with the bytes written. */
  write(buf: Buffer, writes: Write[]): Promise<number> {
    const done = this.queue.then(() => this.writeNow(buf, writes));
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async writeNow(buf: Buffer, writes: Write[]): Promise<number> {
    writes.sort((a, b) => a.position - b.position);
    let total = 0;
    for (let i = 0; i < writes.length;) {
      // Merge neighbours that are consecutive both in the slot and in the target.
      const first = writes[i]!;
      let length = first.length;
      let j = i + 1;
      while (
        j < writes.length &&
        writes[j]!.position === first.position + length &&
        writes[j]!.from === first.from + length
      )
        length += writes[j++]!.length;
      await this.writeRun(buf, first.from, length, first.position);
      total += length;
      i = j;
    }
    this.startFlush();
    return total;
  }

  private async writeRun(buf: Buffer, from: number, length: number, position: number): Promise<void> {
    const aligned = (from | length | position) % DIRECT_ALIGN === 0;
    // Short runs (blocks changed since the parent, scattered over the volume) stay buffered: a direct
    // write waits for the disk, and one at a time, many small ones would add up.
    if (this.direct && aligned && length >= DIRECT_MIN_RUN) {
      try {
        await writeAll(this.direct, buf, from, length, position);
        return;
      } catch (err) {
        // Not aligned for this device after all: stay buffered from now on.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        await this.direct.close();
        this.direct = undefined;
      }
    }
    await writeAll(this.fh, buf, from, length, position);
    this.buffered += length;
  }

  private startFlush(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.flushing || this.buffered - this.flushedAt < WRITEBACK_BYTES) return;
    this.flushedAt = this.buffered;
    this.flushing = this.fh
      .datasync()
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  /** Waits for queued writes, makes them durable (fsync) and closes. */
  async close(): Promise<void> {
    try {
      await this.queue;
      await this.flushing;
      if (this.failure !== undefined) throw this.failure;
      await this.fh.sync();
    } finally {
      await this.direct?.close();
      await this.fh.close();
    }
  }
}

async function writeAll(
  fh: fsp.FileHandle,
  buf: Buffer,
  from: number,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, from + done, length - done, position + done);
    done += bytesWritten;
  }
}
