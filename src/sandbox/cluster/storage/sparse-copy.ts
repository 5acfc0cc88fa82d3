/**
 * Point-in-time copies of volume data that keep holes as holes: what a CSI driver's snapshot does with a
 * copy-on-write filesystem, done here with the best tool the host filesystem offers.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, cp, mkdir, open, rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** How a copy was made, fastest first: a reflink (shared extents), GNU cp with SEEK_HOLE, or our zero-skipping loop. */
export type CopyMethod = 'reflink' | 'cp' | 'zero-skip';

const CHUNK = 1 << 20;
/** Granularity at which zero runs are left as holes: the common filesystem block size. */
const BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/**
 * Copies the file `src` to `dst` (replaced if present) keeping its size and leaving zero blocks as holes.
 * `methods` restricts the strategies tried, in order (tests force each one).
 */
export async function copySparseFile(
  src: string,
  dst: string,
  methods: readonly CopyMethod[] = ['reflink', 'cp', 'zero-skip'],
): Promise<CopyMethod> {
  await rm(dst, { force: true });
  for (const method of methods) {
    try {
      if (method === 'reflink') await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
      else if (method === 'cp')
        await execFileAsync('cp', ['--reflink=auto', '--sparse=always', '--', src, dst]);
      else await zeroSkipCopy(src, dst);
      return method;
    } catch {
      // This filesystem or host lacks the method (EOPNOTSUPP/EXDEV for FICLONE, no GNU cp): try the next.
      await rm(dst, { force: true });
    }
  }
  throw new Error(`cannot copy ${src} to ${dst}: no copy method worked (tried ${methods.join(', ')})`);
}

/** Reads `src` in chunks and writes only the blocks that are not all zeros, then sets the size. */
export async function zeroSkipCopy(src: string, dst: string): Promise<void> {
  const input = await open(src, 'r');
  const output = await open(dst, 'w');
  try {
    const { size } = await input.stat();
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let pos = 0; pos < size;) {
      const { bytesRead } = await input.read(buf, 0, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      let runStart = -1;
      for (let off = 0; off < bytesRead; off += BLOCK) {
        const end = Math.min(off + BLOCK, bytesRead);
        const zero = buf
          .subarray(off, end)
          .equals(end - off === BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, end - off));
        if (!zero && runStart < 0) runStart = off;
        if (zero && runStart >= 0) {
          await output.write(buf, runStart, off - runStart, pos + runStart);
          runStart = -1;
        }
      }
      if (runStart >= 0) await output.write(buf, runStart, bytesRead - runStart, pos + runStart);
      pos += bytesRead;
    }
    await output.truncate(size);
  } finally {
    await input.close();
    await output.close();
  }
}

/** Copies the directory tree `src` into a fresh `dst`, keeping modes, owners and sparse files. */
export async function copyTree(src: string, dst: string): Promise<void> {
  await rm(dst, { recursive: true, force: true });
  await mkdir(dst, { recursive: true });
  try {
    await execFileAsync('cp', ['-a', '--reflink=auto', '--sparse=always', '--', `${src}/.`, dst]);
  } catch {
    await rm(dst, { recursive: true, force: true });
    await cp(src, dst, {
      recursive: true,
      preserveTimestamps: true,
      force: true,
      errorOnExist: false,
      verbatimSymlinks: true,
    });
  }
}
