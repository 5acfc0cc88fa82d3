/**
 * The directory backend: one file per object under a root directory. Writes are durable and
 * atomic (temp file in the same directory, fsync, rename, fsync of the directory), so a crash
 * leaves either the whole object or nothing but a temp file, which listings ignore. Large objects
 * from page-aligned buffers (packs, see `../aligned.ts`) bypass the page cache with O_DIRECT.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DIRECT_ALIGN } from '../aligned.js';
import { type Backend, type ObjectInfo, NotFoundError } from './backend.js';

const TEMP_PREFIX = '.tmp-';
/** Objects from this size on are tried with O_DIRECT; smaller ones are not worth a second open. */
const DIRECT_MIN_BYTES = 1 << 20;

/** Stores objects as files below `root`; keys are slash-separated relative paths. */
export class DirectoryBackend implements Backend {
  readonly location: string;
  private readonly madeDirs = new Set<string>();

  constructor(readonly root: string) {
    this.location = path.resolve(root);
  }

  private file(key: string): string {
    if (
      key === '' ||
      key.startsWith('/') ||
      key.split('/').some((p) => p === '..' || p === '.' || p === '')
    ) {
      throw new Error(`invalid object key ${JSON.stringify(key)}`);
    }
    return path.join(this.location, key);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.file(key));
    } catch (err) {
      throw this.mapNotFound(err, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.file(key), 'r');
      const buf = Buffer.allocUnsafeSlow(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done < length)
        throw new Error(
          `range ${offset}+${length} of ${key} is past the end of the object (${offset + done} bytes)`,
        );
      return buf;
    } catch (err) {
      throw this.mapNotFound(err, key);
    } finally {
      await fh?.close();
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    const target = this.file(key);
    const dir = path.dirname(target);
    await this.ensureDir(dir);
    const temp = path.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let fh: fsp.FileHandle | undefined;
    try {
      const direct = data.length >= DIRECT_MIN_BYTES ? await writeDirect(temp, data) : 0;
      fh = await fsp.open(
        temp,
        constants.O_WRONLY | (direct ? 0 : constants.O_CREAT | constants.O_EXCL),
        0o600,
      );
      let done = direct;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, done);
        done += bytesWritten;
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      await fsp.rename(temp, target);
      await syncDir(dir);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  localFile(key: string): string {
    return this.file(key);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fsp.stat(this.file(key));
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.file(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk from the deepest directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.walk(dirKey, prefix);
  }

  private async *walk(dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fsp.readdir(dirKey ? path.join(this.location, dirKey) : this.location, {
        withFileTypes: true,
      });
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const st = await fsp.stat(path.join(this.location, key)).catch(() => undefined);
        if (st) yield { key, size: st.size };
      }
    }
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  private mapNotFound(err: unknown, key: string): unknown {
    return isNotFound(err) ? new NotFoundError(key, this.location) : err;
  }
}

/** Rejects keys a directory cannot hold safely: empty, absolute, or with `.`/`..`/empty segments. */
export function checkObjectKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}

function isNotFound(err: unknown): boolean {
  // ENOTDIR: a key below a path that is an object (`a/b` when `a` exists) does not exist either.
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Writes the page-aligned bulk of `data` to a new file `temp` with O_DIRECT and returns how many
 * bytes it wrote (the unaligned tail is left to a buffered write). Returns 0, with no file left
 * behind, when the file system or the buffer does not allow direct I/O (EINVAL), e.g. on tmpfs.
 */
async function writeDirect(temp: string, data: Buffer): Promise<number> {
  const bulk = data.length - (data.length % DIRECT_ALIGN);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(
      temp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT,
      0o600,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return 0;
    throw err;
  }
  let done = 0;
  try {
    while (done < bulk) {
      const { bytesWritten } = await fh.write(data, done, bulk - done, done);
      done += bytesWritten;
    }
  } catch (err) {
    // EINVAL: the buffer is not aligned (an ordinary buffer); start over with buffered writes.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    done = 0;
  } finally {
    await fh.close();
  }
  if (done === 0) await fsp.rm(temp, { force: true });
  return done;
}

/** fsync a directory so a rename inside it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
