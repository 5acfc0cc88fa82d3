/**
 * Dynamic provisioning as the CSI external-provisioner and the PV controller do it together: a pending
 * PVC gets a PersistentVolume `pvc-<uid>` backed by a sparse file (Block) or a directory (Filesystem),
 * empty or filled from a VolumeSnapshot (`dataSource`/`dataSourceRef`), and both become Bound. A PV whose
 * claim is gone is reclaimed per its policy (Delete frees the data).
 */
import { ClusterController, keyOf, splitKey, type ReconcileResult } from '../controller.js';
import { RES, type Kube } from '../kube.js';
import type { PersistentVolume, PersistentVolumeClaim, VolumeSnapshot } from '../objects.js';
import { formatBytes, parseQuantity } from '../../../api/quantity.js';
import type { VolumeMode, VolumeStore } from './volume-store.js';

/** The CSI driver name the sandbox's volumes and snapshots carry. */
export const SANDBOX_DRIVER = 'hostpath.csi.sandbox.csbs.dev';

const PV_PREFIX = 'pv:';

/** Binds PVCs to freshly provisioned volumes and reclaims released ones. */
export class Provisioner extends ClusterController {
  protected readonly component = 'persistentvolume-controller';
  readonly pvcs;
  readonly pvs;
  readonly snapshots;

  constructor(
    kube: Kube,
    private readonly store: VolumeStore,
    now?: () => Date,
  ) {
    super('provisioner', kube, now);
    this.pvcs = this.informer<PersistentVolumeClaim>(RES.pvcs, {
      onUpsert: (pvc) => this.enqueue(keyOf(pvc)),
      onDelete: (pvc) => {
        if (pvc.spec.volumeName) this.enqueue(PV_PREFIX + pvc.spec.volumeName);
      },
    });
    this.pvs = this.informer<PersistentVolume>(RES.pvs, {
      onUpsert: (pv) => this.enqueue(PV_PREFIX + pv.metadata.name),
      // Also frees the data when a PV disappears without passing through our finalizer.
      onDelete: (pv) => {
        if (pv.spec.csi?.driver === SANDBOX_DRIVER) void this.store.deleteVolume(pv.metadata.name);
      },
    });
    // A PVC waiting for its snapshot source to become ready is retried when the snapshot changes.
    this.snapshots = this.informer<VolumeSnapshot>(RES.snapshots, {
      onUpsert: (snap) => {
        for (const pvc of this.pvcs.list(
          (p) => p.metadata.namespace === snap.metadata.namespace && sourceSnapshot(p) === snap.metadata.name,
        )) {
          this.enqueue(keyOf(pvc));
        }
      },
    });
  }

  protected async reconcile(key: string): Promise<ReconcileResult | void> {
    if (key.startsWith(PV_PREFIX)) return this.reconcilePv(key.slice(PV_PREFIX.length));
    const { namespace, name } = splitKey(key);
    const pvc = this.pvcs.get(namespace, name);
    if (!pvc || pvc.metadata.deletionTimestamp || pvc.status?.phase === 'Bound') return;
    const pvName = pvc.spec.volumeName || `pvc-${pvc.metadata.uid}`;
    const existing = this.pvs.get(undefined, pvName);
    // Statically bound to a named PV: wait for it to exist, then only bind.
    if (pvc.spec.volumeName && !existing) return { requeueAfterMs: 1000 };
    const mode: VolumeMode = pvc.spec.volumeMode ?? 'Filesystem';
    const request = pvc.spec.resources?.requests?.storage;
    if (!request) {
      await this.event(
        pvc,
        'Warning',
        'ProvisioningFailed',
        'spec.resources.requests.storage is required to provision a volume',
      );
      return;
    }
    const size = parseQuantity(request);
    const fault = this.takeFault();
    if (fault) {
      await this.event(
        pvc,
        'Warning',
        'ProvisioningFailed',
        `failed to provision volume with StorageClass "${pvc.spec.storageClassName ?? ''}": ${fault}`,
      );
      throw new Error(fault);
    }

    if (!existing) {
      const snapName = sourceSnapshot(pvc);
      if (snapName) {
        const snap = this.snapshots.get(namespace, snapName);
        const content = snap?.status?.boundVolumeSnapshotContentName;
        if (!snap || !snap.status?.readyToUse || !content) {
          await this.event(
            pvc,
            'Normal',
            'ExternalProvisioning',
            `waiting for VolumeSnapshot ${namespace}/${snapName} to be ready to use`,
          );
          return { requeueAfterMs: 2000 };
        }
        try {
          await this.store.createVolumeFromSnapshot(pvName, mode, size, content);
        } catch (e) {
          await this.event(
            pvc,
            'Warning',
            'ProvisioningFailed',
            `failed to provision volume from snapshot ${snapName}: ${(e as Error).message}`,
          );
          return { requeueAfterMs: 5000 };
        }
      } else {
        await this.store.createVolume(pvName, mode, size);
      }
      const pv: PersistentVolume = {
        metadata: {
          name: pvName,
          annotations: { 'pv.kubernetes.io/provisioned-by': SANDBOX_DRIVER },
          finalizers: ['kubernetes.io/pv-protection'],
        },
        spec: {
          capacity: { storage: request },
          accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Delete',
          storageClassName: pvc.spec.storageClassName ?? '',
          volumeMode: mode,
          claimRef: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            namespace,
            name,
            uid: pvc.metadata.uid,
          },
          csi: {
            driver: SANDBOX_DRIVER,
            volumeHandle: pvName,
            volumeAttributes: { path: this.store.volumePath(pvName, mode) },
          },
        },
      };
      try {
        await this.kube.create(RES.pvs, pv);
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw e;
      }
      await this.kube.patchStatus(RES.pvs, '', pvName, { phase: 'Bound' });
      await this.event(pvc, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName}`);
    }

    if (!pvc.spec.volumeName) {
      await this.kube.mergePatch(RES.pvcs, namespace, name, {
        metadata: {
          resourceVersion: pvc.metadata.resourceVersion,
          annotations: {
            'pv.kubernetes.io/bind-completed': 'yes',
            'pv.kubernetes.io/bound-by-controller': 'yes',
          },
        },
        spec: { volumeName: pvName },
      });
    }
    const capacity = existing?.spec.capacity?.storage ?? request;
    await this.kube.patchStatus(RES.pvcs, namespace, name, {
      phase: 'Bound',
      accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
      capacity: { storage: capacity },
    });
  }

  /** Reclaims a PV whose claim no longer exists; a Delete policy frees its data. */
  private async reconcilePv(pvName: string): Promise<ReconcileResult | void> {
    const pv = this.pvs.get(undefined, pvName);
    if (!pv || pv.spec.csi?.driver !== SANDBOX_DRIVER) return;
    const ref = pv.spec.claimRef;
    if (pv.metadata.deletionTimestamp) {
      await this.store.deleteVolume(pvName);
      if (pv.metadata.finalizers?.includes('kubernetes.io/pv-protection')) {
        await this.kube.mergePatch(RES.pvs, '', pvName, {
          metadata: { finalizers: pv.metadata.finalizers.filter((f) => f !== 'kubernetes.io/pv-protection') },
        });
      }
      return;
    }
    if (!ref) return;
    const claim = this.pvcs.get(ref.namespace, ref.name);
    if (claim && (!ref.uid || claim.metadata.uid === ref.uid)) return;
    // The claim is gone: confirm with the server (the cache may lag behind a fresh PVC) before reclaiming.
    const live = await this.kube.get<PersistentVolumeClaim>(RES.pvcs, ref.namespace, ref.name);
    if (live && (!ref.uid || live.metadata.uid === ref.uid)) return;
    if (pv.spec.persistentVolumeReclaimPolicy === 'Delete') {
      await this.kube.delete(RES.pvs, '', pvName);
    } else if (pv.status?.phase !== 'Released') {
      await this.kube.patchStatus(RES.pvs, '', pvName, { phase: 'Released' });
    }
  }

  /** Host path of a bound PVC's data (`disk.img` for Block, the directory for Filesystem), read from the API. */
  async volumePath(namespace: string, pvcName: string): Promise<string> {
    const pvc = await this.kube.get<PersistentVolumeClaim>(RES.pvcs, namespace, pvcName);
    if (!pvc) throw new Error(`persistentvolumeclaims "${pvcName}" not found in namespace ${namespace}`);
    if (!pvc.spec.volumeName) throw new Error(`PVC ${namespace}/${pvcName} is not bound yet`);
    return this.store.volumePath(pvc.spec.volumeName, pvc.spec.volumeMode ?? 'Filesystem');
  }
}

/** The VolumeSnapshot a PVC is to be provisioned from, if any. */
export function sourceSnapshot(pvc: PersistentVolumeClaim): string | undefined {
  const src = pvc.spec.dataSourceRef ?? pvc.spec.dataSource;
  return src &&
    src.kind === 'VolumeSnapshot' &&
    (src.apiGroup ?? 'snapshot.storage.k8s.io') === 'snapshot.storage.k8s.io'
    ? src.name
    : undefined;
}

/** Capacity text for a byte count (exported for the snapshotter's restoreSize). */
export const capacityOf = formatBytes;
