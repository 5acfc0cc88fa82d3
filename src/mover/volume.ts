/** Volumes: a block device or a regular (usually sparse) disk image file, and their sizes. */
import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { MoverError, permissionHint } from './errors.js';

/** What a path is and how many bytes it holds. */
export interface VolumeInfo {
  kind: 'file' | 'device';
  size: number;
}

/** Size of a block device from sysfs (Node has no BLKGETSIZE64 ioctl nor lseek(SEEK_END)). */
function deviceSize(rdev: number, path: string): number {
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff & 0xfffff);
  try {
    return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim()) * 512;
  } catch (err) {
    throw new MoverError(
      'SourceUnreadable',
      `cannot find the size of block device ${path}: ${(err as Error).message}`,
    );
  }
}

/** Describes an existing volume; `undefined` when it does not exist. */
export async function statVolume(path: string): Promise<VolumeInfo | undefined> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (st.isFile()) return { kind: 'file', size: st.size };
  if (st.isBlockDevice()) return { kind: 'device', size: deviceSize(st.rdev, path) };
  throw new MoverError('SourceUnreadable', `${path} is neither a block device nor a regular file`);
}

/** What to do when a volume refuses the mover's user (the kubelet never hands it a raw block device). */
export function volumeAccessHint(err: unknown): string {
  return permissionHint(
    err,
    "the volume's owner, group or mode must let this user in; for a Kubernetes Block volume set the controller's CSBS_BLOCK_DEVICE_GROUP to the device's group, or enable device_ownership_from_security_context in the container runtime",
  );
}

/** Checks a backup source exists and is readable; returns its size. */
export async function openSource(path: string): Promise<VolumeInfo> {
  let info: VolumeInfo | undefined;
  try {
    info = await statVolume(path);
    if (!info) throw new MoverError('SourceUnreadable', `source ${path} does not exist`);
    const fh = await fsp.open(path, 'r');
    await fh.close();
  } catch (err) {
    if (err instanceof MoverError) throw err;
    throw new MoverError(
      'SourceUnreadable',
      `cannot read source ${path}: ${(err as Error).message}${volumeAccessHint(err)}`,
    );
  }
  return info;
}
