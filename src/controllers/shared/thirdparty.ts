/**
 * The parts of third-party kinds the controllers read and write: CSI VolumeSnapshots
 * (`snapshot.storage.k8s.io/v1`) and KubeVirt VirtualMachines / VirtualMachineInstances (`kubevirt.io/v1`).
 * Only the fields we use are typed; everything else passes through untouched.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';

/** `snapshot.storage.k8s.io/v1` VolumeSnapshot. */
export interface VolumeSnapshot {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec: {
    source: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string };
    volumeSnapshotClassName?: string;
  };
  status?: {
    readyToUse?: boolean;
    /** Set when the storage system cut the snapshot: the instant its data is from. */
    creationTime?: string;
    restoreSize?: string;
    boundVolumeSnapshotContentName?: string;
    error?: { message?: string; time?: string };
  };
}

/** Group/version/plural of VolumeSnapshots. */
export const SNAPSHOT_GROUP = 'snapshot.storage.k8s.io';
export const SNAPSHOT_VERSION = 'v1';
export const SNAPSHOT_PLURAL = 'volumesnapshots';

/** One volume of a VirtualMachine's template. */
export interface VirtualMachineVolume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  dataVolume?: { name: string };
  [other: string]: unknown;
}

/** `kubevirt.io/v1` VirtualMachine. */
export interface VirtualMachine {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: {
    running?: boolean;
    runStrategy?: string;
    template?: { spec?: { volumes?: VirtualMachineVolume[] } };
  };
  status?: { printableStatus?: string; ready?: boolean; runStrategy?: string };
}

/** `kubevirt.io/v1` VirtualMachineInstance (the running guest). */
export interface VirtualMachineInstance {
  metadata?: V1ObjectMeta;
  status?: {
    phase?: string;
    /** Guest agent states, e.g. `AgentConnected`; `Paused` when paused. */
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    fsFreezeStatus?: string;
  };
}

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
/** Where KubeVirt serves freeze/unfreeze: `PUT .../virtualmachineinstances/<name>/freeze`. */
export const KUBEVIRT_SUBRESOURCES_GROUP = 'subresources.kubevirt.io';
