/**
 * CSI snapshots as the snapshot-controller and the csi-snapshotter sidecar do them together: a
 * VolumeSnapshot of a bound PVC gets a VolumeSnapshotContent `snapcontent-<uid>` whose data is a copy of
 * the volume taken at that instant, then both become readyToUse with restoreSize. Deleting the snapshot
 * deletes the content and frees its data when the deletionPolicy is Delete (Retain keeps both).
 */
import { ClusterController, keyOf, splitKey, type ReconcileResult } from '../controller.js';
import { RES, statusCode, type Kube } from '../kube.js';
import type {
  KObject,
  PersistentVolume,
  PersistentVolumeClaim,
  VolumeSnapshot,
  VolumeSnapshotContent,
} from '../objects.js';
import { capacityOf, SANDBOX_DRIVER } from './provisioner.js';
import { parseQuantity } from '../../../api/quantity.js';
import type { VolumeStore } from './volume-store.js';

/** Finalizer the snapshot-controller puts on a VolumeSnapshot bound to a content. */
export const BOUND_PROTECTION = 'snapshot.storage.kubernetes.io/volumesnapshot-bound-protection';

/** The VolumeSnapshotClass installed on start when the cluster has none. */
export const DEFAULT_SNAPSHOT_CLASS = 'csi-hostpath-snapclass';

interface SnapshotClass extends KObject {
  driver: string;
  deletionPolicy: 'Delete' | 'Retain';
}

const CONTENT_PREFIX = 'content:';

/** Takes and deletes VolumeSnapshots. */
export class Snapshotter extends ClusterController {
  protected readonly component = 'snapshot-controller';
  readonly snapshots;
  readonly contents;
  readonly classes;

  constructor(
    kube: Kube,
    private readonly store: VolumeStore,
    now?: () => Date,
  ) {
    super('snapshotter', kube, now);
    this.snapshots = this.informer<VolumeSnapshot>(RES.snapshots, {
      onUpsert: (s) => this.enqueue(keyOf(s)),
    });
    this.contents = this.informer<VolumeSnapshotContent>(RES.snapshotContents, {
      onUpsert: (c) => this.enqueue(CONTENT_PREFIX + c.metadata.name),
      onDelete: (c) => {
        if (c.spec.driver === SANDBOX_DRIVER && c.spec.deletionPolicy === 'Delete')
          void this.store.deleteSnapshot(c.metadata.name);
      },
    });
    this.classes = this.informer<SnapshotClass>(RES.snapshotClasses, {});
  }

  /** Installs the default VolumeSnapshotClass (like a cluster set up with the csi-hostpath driver). */
  async installDefaultClass(): Promise<void> {
    try {
      await this.kube.create<SnapshotClass>(RES.snapshotClasses, {
        metadata: {
          name: DEFAULT_SNAPSHOT_CLASS,
          annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' },
        },
        driver: SANDBOX_DRIVER,
        deletionPolicy: 'Delete',
      });
    } catch (e) {
      if (statusCode(e) !== 409) throw e;
    }
  }

  private snapshotClass(name: string | undefined): SnapshotClass | undefined {
    if (name) return this.classes.get(undefined, name);
    return this.classes.list(
      (c) =>
        c.metadata.annotations?.['snapshot.storage.kubernetes.io/is-default-class'] === 'true' &&
        c.driver === SANDBOX_DRIVER,
    )[0];
  }

  private async setError(snap: VolumeSnapshot, message: string): Promise<void> {
    await this.kube.patchStatus(RES.snapshots, snap.metadata.namespace!, snap.metadata.name, {
      readyToUse: false,
      error: { message, time: this.now().toISOString() },
    });
    await this.event(snap, 'Warning', 'SnapshotCreationFailed', message);
  }

  protected async reconcile(key: string): Promise<ReconcileResult | void> {
    if (key.startsWith(CONTENT_PREFIX)) return this.reconcileContent(key.slice(CONTENT_PREFIX.length));
    const { namespace, name } = splitKey(key);
    const snap = this.snapshots.get(namespace, name);
    if (!snap) return;
    const contentName = snap.status?.boundVolumeSnapshotContentName ?? `snapcontent-${snap.metadata.uid}`;
    if (snap.metadata.deletionTimestamp) return this.deleteSnapshot(snap, contentName);
    if (snap.status?.readyToUse) return;

    const pvcName = snap.spec.source.persistentVolumeClaimName;
    if (!pvcName) {
      // Pre-provisioned contents (source.volumeSnapshotContentName) are out of scope for the sandbox.
      await this.setError(
        snap,
        'only dynamic snapshots (spec.source.persistentVolumeClaimName) are supported by the sandbox',
      );
      return;
    }
    const cls = this.snapshotClass(snap.spec.volumeSnapshotClassName);
    if (!cls) {
      const msg = snap.spec.volumeSnapshotClassName
        ? `failed to get snapshot class with error volumesnapshotclass.snapshot.storage.k8s.io "${snap.spec.volumeSnapshotClassName}" not found`
        : 'cannot find default snapshot class';
      await this.setError(snap, msg);
      return { requeueAfterMs: 2000 };
    }
    const pvc = await this.kube.get<PersistentVolumeClaim>(RES.pvcs, namespace, pvcName);
    if (!pvc) {
      await this.setError(
        snap,
        `failed to get input parameters to create snapshot ${name}: "persistentvolumeclaim \\"${pvcName}\\" not found"`,
      );
      return { requeueAfterMs: 2000 };
    }
    if (pvc.status?.phase !== 'Bound' || !pvc.spec.volumeName) {
      await this.setError(
        snap,
        `the PVC ${pvcName} is not yet bound to a PV, will not attempt to take a snapshot`,
      );
      return { requeueAfterMs: 1000 };
    }
    const pv = await this.kube.get<PersistentVolume>(RES.pvs, '', pvc.spec.volumeName);
    if (!pv || pv.spec.csi?.driver !== SANDBOX_DRIVER) {
      await this.setError(snap, `volume ${pvc.spec.volumeName} is not provisioned by ${SANDBOX_DRIVER}`);
      return;
    }
    const fault = this.takeFault();
    if (fault) {
      await this.setError(snap, `failed to take snapshot of the volume ${pv.metadata.name}: ${fault}`);
      throw new Error(fault);
    }

    if (!snap.metadata.finalizers?.includes(BOUND_PROTECTION)) {
      await this.kube.mergePatch(RES.snapshots, namespace, name, {
        metadata: {
          resourceVersion: snap.metadata.resourceVersion,
          finalizers: [...(snap.metadata.finalizers ?? []), BOUND_PROTECTION],
        },
      });
    }
    const mode = pv.spec.volumeMode ?? 'Filesystem';
    let content = this.contents.get(undefined, contentName);
    if (!content?.status?.readyToUse) {
      // The copy is the snapshot's instant: whatever is written to the volume after it is not in it.
      const capacity = parseQuantity(pv.spec.capacity?.storage ?? '0');
      const info = await this.store.snapshot(contentName, pv.metadata.name, mode, capacity);
      const creationTime = this.now();
      if (!content) {
        try {
          content = await this.kube.create<VolumeSnapshotContent>(RES.snapshotContents, {
            metadata: { name: contentName },
            spec: {
              deletionPolicy: cls.deletionPolicy,
              driver: SANDBOX_DRIVER,
              source: { volumeHandle: pv.metadata.name },
              sourceVolumeMode: mode,
              volumeSnapshotClassName: cls.metadata.name,
              volumeSnapshotRef: {
                apiVersion: 'snapshot.storage.k8s.io/v1',
                kind: 'VolumeSnapshot',
                name,
                namespace,
                uid: snap.metadata.uid,
              },
            },
          });
        } catch (e) {
          if (statusCode(e) !== 409) throw e;
        }
      }
      await this.kube.patchStatus(RES.snapshotContents, '', contentName, {
        creationTime: creationTime.getTime() * 1e6,
        readyToUse: true,
        restoreSize: info.restoreSize,
        snapshotHandle: contentName,
      });
      await this.kube.patchStatus(RES.snapshots, namespace, name, {
        boundVolumeSnapshotContentName: contentName,
        creationTime: creationTime.toISOString(),
        readyToUse: true,
        restoreSize: capacityOf(info.restoreSize),
        error: null,
      });
      await this.event(snap, 'Normal', 'SnapshotReady', `Snapshot ${namespace}/${name} is ready to use.`);
      return;
    }
    await this.kube.patchStatus(RES.snapshots, namespace, name, {
      boundVolumeSnapshotContentName: contentName,
      creationTime: new Date((content.status.creationTime ?? 0) / 1e6).toISOString(),
      readyToUse: true,
      restoreSize: capacityOf(content.status.restoreSize ?? 0),
      error: null,
    });
  }

  private async deleteSnapshot(snap: VolumeSnapshot, contentName: string): Promise<void> {
    const content = this.contents.get(undefined, contentName);
    if (content && content.spec.deletionPolicy === 'Delete') {
      await this.store.deleteSnapshot(contentName);
      await this.kube.delete(RES.snapshotContents, '', contentName);
    }
    if (snap.metadata.finalizers?.includes(BOUND_PROTECTION)) {
      await this.kube.mergePatch(RES.snapshots, snap.metadata.namespace!, snap.metadata.name, {
        metadata: {
          resourceVersion: snap.metadata.resourceVersion,
          finalizers: snap.metadata.finalizers.filter((f) => f !== BOUND_PROTECTION),
        },
      });
    }
  }

  /** A content whose snapshot is gone is deleted per its policy (the snapshot may have gone without us). */
  private async reconcileContent(contentName: string): Promise<void> {
    const content = this.contents.get(undefined, contentName);
    if (!content || content.spec.driver !== SANDBOX_DRIVER) return;
    if (content.metadata.deletionTimestamp) {
      if (content.spec.deletionPolicy === 'Delete') await this.store.deleteSnapshot(contentName);
      return;
    }
    const ref = content.spec.volumeSnapshotRef;
    const snap = this.snapshots.get(ref.namespace, ref.name);
    if (snap && (!ref.uid || snap.metadata.uid === ref.uid)) return;
    const live = await this.kube.get<VolumeSnapshot>(RES.snapshots, ref.namespace, ref.name);
    if (live && (!ref.uid || live.metadata.uid === ref.uid)) return;
    if (content.spec.deletionPolicy === 'Delete') {
      await this.store.deleteSnapshot(contentName);
      await this.kube.delete(RES.snapshotContents, '', contentName);
    }
  }
}
