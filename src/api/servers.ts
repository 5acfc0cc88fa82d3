/**
 * How a `ServerRef` resolves to the PVCs to back up. Pure: callers fetch the objects, these functions
 * read them.
 *
 * - `VirtualMachine` (KubeVirt `kubevirt.io/v1`): the server's volumes are the entries of
 *   `spec.template.spec.volumes` that have `persistentVolumeClaim.claimName` or `dataVolume.name` (a
 *   DataVolume's PVC carries the DataVolume's name), in the VM's order. Other volume kinds
 *   (containerDisk, cloudInitNoCloud, secret...) are not disks we back up and are skipped.
 * - `PVCGroup`: every PVC in the namespace labelled `csbs.dev/server=<name>`, ordered by PVC name; the
 *   volume name is the PVC name.
 *
 * Both live in the namespace of the object that references them.
 */
import type { ServerKind } from './constants.js';
import { LABEL_SERVER } from './labels.js';
import type { ServerRef } from './types.js';

/** One disk of a server. */
export interface ServerVolume {
  /** Volume name in the VM spec, or the PVC name for a PVCGroup. */
  name: string;
  /** The PVC holding the data. */
  claimName: string;
  /** Where the volume came from in the VM spec (`pvc` for PVCGroup members). */
  source: 'persistentVolumeClaim' | 'dataVolume' | 'pvc';
}

/** The slice of a KubeVirt VirtualMachine that resolution reads. */
export interface VirtualMachineVolumesView {
  spec?: {
    template?: {
      spec?: {
        volumes?: Array<{
          name: string;
          persistentVolumeClaim?: { claimName?: string };
          dataVolume?: { name?: string };
        }>;
      };
    };
  };
}

/** The disks of a VirtualMachine, in its order. */
export function volumesOfVirtualMachine(vm: VirtualMachineVolumesView): ServerVolume[] {
  const out: ServerVolume[] = [];
  for (const v of vm.spec?.template?.spec?.volumes ?? []) {
    if (v.persistentVolumeClaim?.claimName) {
      out.push({
        name: v.name,
        claimName: v.persistentVolumeClaim.claimName,
        source: 'persistentVolumeClaim',
      });
    } else if (v.dataVolume?.name) {
      out.push({ name: v.name, claimName: v.dataVolume.name, source: 'dataVolume' });
    }
  }
  return out;
}

/** Label selector (string form) listing the PVCs of a PVCGroup server. */
export function pvcGroupSelector(serverName: string): string {
  return `${LABEL_SERVER}=${serverName}`;
}

/** The disks of a PVCGroup, given the PVCs listed with {@link pvcGroupSelector}. */
export function volumesOfPVCGroup(pvcs: Array<{ metadata?: { name?: string } }>): ServerVolume[] {
  return pvcs
    .map((p) => p.metadata?.name)
    .filter((n): n is string => typeof n === 'string' && n !== '')
    .sort()
    .map((name) => ({ name, claimName: name, source: 'pvc' as const }));
}

/** Stable string key of a server, e.g. for maps and conflict detection: `VirtualMachine/web-1`. */
export function serverKey(ref: { kind: ServerKind; name: string }): string {
  return `${ref.kind}/${ref.name}`;
}

/** Whether two refs name the same server. */
export function sameServer(a: ServerRef, b: ServerRef): boolean {
  return a.kind === b.kind && a.name === b.name;
}
