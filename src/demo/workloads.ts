/**
 * The demo's workload: a KubeVirt VirtualMachine `web-1` with a Block root disk and a Filesystem data
 * disk (a `disk.img` at the volume's root, as KubeVirt lays out filesystem PVCs), its data written by an
 * import Job as CDI's importer pod would, and the guest's later writes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { V1Job, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { GenericObject } from '../runtime/kinds.js';

const MiB = 1 << 20;

/** One disk of the demo VM. */
export interface DemoDisk {
  /** Disk (and volume) name inside the VM. */
  name: string;
  /** PVC name. */
  claim: string;
  mode: 'Block' | 'Filesystem';
  sizeMiB: number;
}

/** The demo VM's name. */
export const VM_NAME = 'web-1';

/** The demo VM's disks: a 64 MiB Block root disk and a 32 MiB Filesystem data disk. */
export const DEMO_DISKS: DemoDisk[] = [
  { name: 'root', claim: `${VM_NAME}-root`, mode: 'Block', sizeMiB: 64 },
  { name: 'data', claim: `${VM_NAME}-data`, mode: 'Filesystem', sizeMiB: 32 },
];

/** A ReadWriteOnce PVC of the default StorageClass. */
export function claim(
  namespace: string,
  name: string,
  mode: 'Block' | 'Filesystem',
  sizeMiB: number,
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace },
    spec: {
      accessModes: ['ReadWriteOnce'],
      volumeMode: mode,
      resources: { requests: { storage: `${sizeMiB}Mi` } },
    },
  };
}

/** Where a disk appears inside the import Job's container. */
function importPath(d: DemoDisk): string {
  return d.mode === 'Block' ? `/dev/${d.name}` : `/volumes/${d.name}/disk.img`;
}

/**
 * A Job that fills the disks as an OS image import would: random data (incompressible, like binaries),
 * a repetitive region (compressible, like logs) and zeros (the untouched rest, sparse). A Filesystem disk
 * gets its `disk.img` created at the full size first.
 */
export function importJob(namespace: string, name: string, disks: DemoDisk[]): V1Job {
  const lines = ['set -e'];
  for (const d of disks) {
    const path = importPath(d);
    if (d.mode === 'Filesystem') lines.push(`truncate -s ${d.sizeMiB}M ${path}`);
    const random = Math.floor(d.sizeMiB / 4);
    const text = Math.floor(d.sizeMiB / 8);
    lines.push(`dd if=/dev/urandom of=${path} bs=1M count=${random} conv=notrunc 2>/dev/null`);
    lines.push(
      `yes 'csbs demo: ${d.name} disk of ${VM_NAME}' | head -c ${text * MiB} | dd of=${path} bs=1M seek=${random} conv=notrunc 2>/dev/null`,
    );
  }
  lines.push(`echo "imported ${disks.length} disks" > /dev/termination-log`);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels: { app: 'csbs-demo-import' } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { app: 'csbs-demo-import' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'import',
              image: 'busybox:1.36',
              command: ['sh', '-c', lines.join('\n')],
              volumeDevices: disks
                .filter((d) => d.mode === 'Block')
                .map((d) => ({ name: d.name, devicePath: `/dev/${d.name}` })),
              volumeMounts: disks
                .filter((d) => d.mode === 'Filesystem')
                .map((d) => ({ name: d.name, mountPath: `/volumes/${d.name}` })),
              terminationMessagePath: '/dev/termination-log',
            },
          ],
          volumes: disks.map((d) => ({ name: d.name, persistentVolumeClaim: { claimName: d.claim } })),
        },
      },
    },
  };
}

/** The KubeVirt VirtualMachine with one virtio disk per PVC, running. */
export function virtualMachine(namespace: string, disks: DemoDisk[]): GenericObject {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: VM_NAME, namespace, labels: { app: 'web' } },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          domain: {
            devices: { disks: disks.map((d) => ({ name: d.name, disk: { bus: 'virtio' } })) },
            resources: { requests: { memory: '128Mi' } },
          },
          volumes: disks.map((d) => ({ name: d.name, persistentVolumeClaim: { claimName: d.claim } })),
        },
      },
    },
  } as GenericObject;
}

/** The host file holding a disk's bytes, given the sandbox's path of its volume. */
export function diskImage(volumePath: string, d: DemoDisk): string {
  return d.mode === 'Block' ? volumePath : `${volumePath}/disk.img`;
}

/** sha256 of a disk image, hex. */
export async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  const f = await open(path, 'r');
  try {
    for await (const chunk of f.createReadStream()) h.update(chunk as Buffer);
  } finally {
    await f.close();
  }
  return h.digest('hex');
}

/**
 * What the running guest writes: `pieces` random runs of `pieceBytes`, spread evenly over the disk at
 * offsets aligned to `pieceBytes`. Returns the bytes written.
 */
export async function guestWrites(
  path: string,
  diskBytes: number,
  pieces: number,
  pieceBytes: number,
): Promise<number> {
  const f = await open(path, 'r+');
  try {
    const slots = Math.floor(diskBytes / pieceBytes);
    const stride = Math.max(1, Math.floor(slots / pieces));
    for (let i = 0; i < pieces; i++) {
      await f.write(randomBytes(pieceBytes), 0, pieceBytes, ((i * stride) % slots) * pieceBytes);
    }
    await f.sync();
  } finally {
    await f.close();
  }
  return pieces * pieceBytes;
}
