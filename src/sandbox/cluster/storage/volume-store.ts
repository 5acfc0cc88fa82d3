/**
 * The sandbox's storage backend: each PersistentVolume is a sparse file (`volumeMode: Block`) or a
 * directory (`Filesystem`) on the host, and each snapshot a sparse copy of one, under the state directory.
 */
import { chmod, chown, mkdir, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copySparseFile, copyTree, type CopyMethod } from './sparse-copy.js';

/** `spec.volumeMode` of a PVC/PV. */
export type VolumeMode = 'Block' | 'Filesystem';

/** What a snapshot recorded about its source. */
export interface SnapshotInfo {
  mode: VolumeMode;
  /** Bytes a volume restored from it needs: the source's size. */
  restoreSize: number;
  method: CopyMethod | 'tree';
}

/** Names are used as path components: refuse anything that could escape the store. */
function safeName(name: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.includes('..')) {
    throw new Error(`invalid volume or snapshot name "${name}": must be a DNS-1123 subdomain`);
  }
  return name;
}

/** Host-side storage of volumes and snapshots under one root directory. */
export class VolumeStore {
  /** `copyMethods` restricts how block snapshots are copied (tests force the fallbacks). */
  constructor(
    readonly root: string,
    private readonly copyMethods?: readonly CopyMethod[],
  ) {}

  /** Directory holding volume `pvName`. */
  volumeDir(pvName: string): string {
    return join(this.root, 'volumes', safeName(pvName));
  }

  /** The host path a pod sees: the disk image of a Block volume, the data directory of a Filesystem one. */
  volumePath(pvName: string, mode: VolumeMode): string {
    return join(this.volumeDir(pvName), mode === 'Block' ? 'disk.img' : 'data');
  }

  private snapshotDir(contentName: string): string {
    return join(this.root, 'snapshots', safeName(contentName));
  }

  /** Creates an empty volume (idempotent: an existing one is kept, a Block one grown to `sizeBytes`). */
  async createVolume(pvName: string, mode: VolumeMode, sizeBytes: number): Promise<string> {
    const path = this.volumePath(pvName, mode);
    await mkdir(this.volumeDir(pvName), { recursive: true });
    if (mode === 'Filesystem') {
      await mkdir(path, { recursive: true });
      return path;
    }
    const fh = await open(path, 'a');
    try {
      if ((await fh.stat()).size < sizeBytes) await fh.truncate(sizeBytes);
    } finally {
      await fh.close();
    }
    await ownAsDevice(path);
    return path;
  }

  /** Creates volume `pvName` holding the data of snapshot `contentName`, grown to `sizeBytes` if larger. */
  async createVolumeFromSnapshot(
    pvName: string,
    mode: VolumeMode,
    sizeBytes: number,
    contentName: string,
  ): Promise<string> {
    const info = await this.snapshotInfo(contentName);
    if (info.mode !== mode) {
      throw new Error(
        `snapshot ${contentName} holds a ${info.mode} volume and cannot be restored as volumeMode ${mode}`,
      );
    }
    if (sizeBytes < info.restoreSize) {
      throw new Error(
        `requested size ${sizeBytes} is smaller than the snapshot's restoreSize ${info.restoreSize}`,
      );
    }
    const src = join(this.snapshotDir(contentName), mode === 'Block' ? 'disk.img' : 'data');
    const path = this.volumePath(pvName, mode);
    await mkdir(this.volumeDir(pvName), { recursive: true });
    if (mode === 'Block') {
      await copySparseFile(src, path, this.copyMethods);
      if (sizeBytes > info.restoreSize) await truncate(path, sizeBytes);
      await ownAsDevice(path);
    } else {
      await copyTree(src, path);
    }
    return path;
  }

  /** Copies volume `pvName` (of capacity `capacityBytes`) as it is now into snapshot `contentName`. */
  async snapshot(
    contentName: string,
    pvName: string,
    mode: VolumeMode,
    capacityBytes: number,
  ): Promise<SnapshotInfo> {
    const dir = this.snapshotDir(contentName);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const src = this.volumePath(pvName, mode);
    let info: SnapshotInfo;
    if (mode === 'Block') {
      const method = await copySparseFile(src, join(dir, 'disk.img'), this.copyMethods);
      info = { mode, restoreSize: (await stat(src)).size, method };
    } else {
      await copyTree(src, join(dir, 'data'));
      info = { mode, restoreSize: capacityBytes, method: 'tree' };
    }
    await writeFile(join(dir, 'snapshot.json'), JSON.stringify(info));
    return info;
  }

  /** What snapshot `contentName` holds; throws when it does not exist. */
  async snapshotInfo(contentName: string): Promise<SnapshotInfo> {
    try {
      return JSON.parse(
        await readFile(join(this.snapshotDir(contentName), 'snapshot.json'), 'utf8'),
      ) as SnapshotInfo;
    } catch {
      throw new Error(`snapshot data for ${contentName} not found`);
    }
  }

  /** Frees a volume's data (idempotent). */
  async deleteVolume(pvName: string): Promise<void> {
    await rm(this.volumeDir(pvName), { recursive: true, force: true });
  }

  /** Frees a snapshot's data (idempotent). */
  async deleteSnapshot(contentName: string): Promise<void> {
    await rm(this.snapshotDir(contentName), { recursive: true, force: true });
  }
}

/** GID of `disk`, the group of block device nodes on most Linux nodes. */
const DISK_GROUP = 6;

/**
 * A Block volume's image gets the owner and mode a CSI driver's device node usually has, root:disk
 * 0660, so pods reach it as they would on a node: as root, or as a member of the disk group. (Only
 * root can give a file away; an unprivileged sandbox keeps its own files.)
 */
async function ownAsDevice(path: string): Promise<void> {
  if (process.getuid?.() === 0) await chown(path, 0, DISK_GROUP);
  await chmod(path, 0o660);
}
