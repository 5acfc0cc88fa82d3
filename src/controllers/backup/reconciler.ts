/**
 * The Backup controller: Pending -> Snapshotting -> Uploading -> Available | Failed, and the finalizer
 * that removes a Backup's manifests from the repository before the object goes.
 *
 * Each reconcile reads the Backup and its children afresh, takes one step and records it in status.
 * Children carry `csbs.dev/backup=<name>` and deterministic names, so a restarted controller finds the
 * snapshots and Jobs of its predecessor and follows them to the end instead of starting over.
 */
import type { KubernetesObject, V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import {
  BackupPhase,
  ConditionType,
  Consistency,
  Reason,
  RestorePhase,
  type ConditionStatus,
} from '../../api/conditions.js';
import { ServerKind } from '../../api/constants.js';
import { DEFAULT_BLOCK_SIZE } from '../../api/defaults.js';
import {
  FINALIZER_DELETE_BACKUP_DATA,
  LABEL_BACKUP,
  LABEL_ORIGIN,
  LABEL_REPOSITORY,
  LABEL_SERVER_KIND,
  LABEL_SERVER_NAME,
} from '../../api/labels.js';
import {
  pvcGroupSelector,
  volumesOfPVCGroup,
  volumesOfVirtualMachine,
  type ServerVolume,
} from '../../api/servers.js';
import type { Backup, BackupRepository, BackupStatus, Restore, VolumeBackupStatus } from '../../api/types.js';
import type { KubeClient } from '../../runtime/client.js';
import { formatTime, getCondition, setConditions, type ConditionInput } from '../../runtime/conditions.js';
import { deepEqual } from '../../runtime/equality.js';
import { isAlreadyExists, isNotFound } from '../../runtime/errors.js';
import { addFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../../runtime/finalizers.js';
import { Kinds, type ResourceKind } from '../../runtime/kinds.js';
import {
  mapByLabel,
  watch,
  type ObjectKey,
  type ReconcileContext,
  type Reconciler,
  type ReconcileResult,
} from '../../runtime/reconciler.js';
import { createMoverJob, jobPodsOf, jobState, listChildren, podCannotStart } from '../shared/jobs.js';
import {
  BackupKind,
  BackupRepositoryKind,
  RestoreKind,
  VirtualMachineInstanceKind,
  VirtualMachineKind,
  VolumeSnapshotKind,
} from '../shared/kinds.js';
import { MANAGED_SELECTOR } from '../shared/mover.js';
import { lastProgress, outcomesByContainer } from '../shared/mover-output.js';
import { labelValue } from '../shared/names.js';
import { quantityBytes } from '../../api/quantity.js';
import { repositoryAccess, repositoryReadiness } from '../shared/repository.js';
import { acquireServerLock, releaseServerLock, type LockHolder } from '../shared/serverlock.js';
import type { ControllerSettings } from '../shared/settings.js';
import type { VolumeSnapshot } from '../shared/thirdparty.js';
import {
  ANNOTATION_PARENT,
  backupChildLabels,
  deleteJob,
  deleteJobName,
  desiredSnapshots,
  temporaryPVC,
  uploadJob,
  uploadJobName,
  type SourceVolume,
  type UploadVolume,
} from './desired.js';
import {
  ACTIVE_BACKUP_PHASES,
  availableMessage,
  combinedProgress,
  latestAvailable,
  manifestsOf,
  parentManifests,
  uploadOutcome,
} from './status.js';

/** False when the parent an incremental was planned on proved unusable, so the backup went Full. */
const CONDITION_PARENT_USABLE = 'ParentUsable';

/** Quiesced reasons this controller writes besides the api's. */
const FREEZING = 'Freezing';
const THAWED = 'Thawed';

/** Restore phases during which the backup is being read. */
const RESTORE_ACTIVE: readonly string[] = [
  RestorePhase.StoppingServer,
  RestorePhase.Restoring,
  RestorePhase.StartingServer,
];

function creationMs(obj: { metadata?: { creationTimestamp?: unknown } }): number {
  const t = obj.metadata?.creationTimestamp;
  return t ? new Date(t as string).getTime() : 0;
}

/** The Backup reconciler. */
export class BackupReconciler implements Reconciler {
  readonly name = 'backup';
  readonly for = Kinds.Backup;
  readonly watches;

  constructor(private readonly settings: ControllerSettings) {
    const byLabel = mapByLabel(LABEL_BACKUP);
    this.watches = [
      { kind: Kinds.Job, map: byLabel, selector: MANAGED_SELECTOR },
      { kind: Kinds.Pod, map: byLabel, selector: MANAGED_SELECTOR },
      { kind: Kinds.VolumeSnapshot, map: byLabel, selector: MANAGED_SELECTOR },
      { kind: Kinds.PersistentVolumeClaim, map: byLabel, selector: MANAGED_SELECTOR },
      watch(RestoreKind, (r) =>
        r.spec?.backupRef?.name
          ? [{ namespace: r.metadata?.namespace ?? '', name: r.spec.backupRef.name }]
          : [],
      ),
      // A repository's integrity check result reaches every Backup stored in it.
      watch(BackupRepositoryKind, (repo, cache) =>
        cache
          .list(BackupKind, {
            namespace: repo.metadata?.namespace ?? '',
            labels: { [LABEL_REPOSITORY]: labelValue(repo.metadata?.name ?? '') },
          })
          .map((b) => ({ namespace: b.metadata.namespace ?? '', name: b.metadata.name ?? '' })),
      ),
    ];
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const backup = await ctx.client.tryGet(BackupKind, key.namespace, key.name);
    if (!backup) return;
    const run = new BackupRun(backup, ctx, this.settings);
    if (isBeingDeleted(backup)) return run.finalize();
    if (!hasFinalizer(backup, FINALIZER_DELETE_BACKUP_DATA) || run.missingLabels()) {
      await run.ensureMetadata();
      return;
    }
    switch (backup.status?.phase ?? BackupPhase.Pending) {
      case BackupPhase.Pending:
        return run.pending();
      case BackupPhase.Snapshotting:
        return run.snapshotting();
      case BackupPhase.Uploading:
        return run.uploading();
      default:
        return run.settle();
    }
  }
}

/** One reconcile of one Backup: the object as read, and the steps it may take. */
class BackupRun {
  private readonly client: KubeClient;
  private readonly ns: string;
  private readonly name: string;

  constructor(
    private backup: Backup,
    private readonly ctx: ReconcileContext,
    private readonly settings: ControllerSettings,
  ) {
    this.client = ctx.client;
    this.ns = backup.metadata.namespace ?? '';
    this.name = backup.metadata.name ?? '';
  }

  private get holder(): LockHolder {
    return `Backup/${this.name}`;
  }

  private get poll(): ReconcileResult {
    return { requeueAfterMs: this.settings.pollMs };
  }

  // ------------------------------------------------------------------ metadata

  /** Labels that make chains and retention a label-selected list. */
  private wantedLabels(): Record<string, string> {
    const s = this.backup.spec;
    return {
      [LABEL_SERVER_KIND]: s.server.kind,
      [LABEL_SERVER_NAME]: labelValue(s.server.name),
      [LABEL_REPOSITORY]: labelValue(s.repositoryRef.name),
      [LABEL_ORIGIN]: s.origin,
    };
  }

  missingLabels(): boolean {
    const have = this.backup.metadata.labels ?? {};
    return Object.entries(this.wantedLabels()).some(([k, v]) => have[k] !== v);
  }

  /** Adds the finalizer and the lookup labels (Backups created by hand may lack them). */
  async ensureMetadata(): Promise<void> {
    if (this.missingLabels()) {
      await this.client.patch(BackupKind, this.ns, this.name, {
        metadata: { labels: this.wantedLabels(), resourceVersion: this.backup.metadata.resourceVersion },
      });
      return;
    }
    await addFinalizer(this.client, BackupKind, this.backup, FINALIZER_DELETE_BACKUP_DATA);
  }

  // ------------------------------------------------------------------ status writing

  private conditions(inputs: Omit<ConditionInput, 'observedGeneration'>[]) {
    const gen = this.backup.metadata.generation;
    return setConditions(
      this.backup.status?.conditions,
      inputs.map((c) => ({ ...c, ...(gen !== undefined ? { observedGeneration: gen } : {}) })),
      this.ctx.clock.now(),
    );
  }

  /** Merge-patches status when it differs from what was read (conditional on resourceVersion). */
  private async writeStatus(patch: BackupStatus): Promise<void> {
    const full = { ...patch, observedGeneration: this.backup.metadata.generation };
    if (deepEqual({ ...(this.backup.status ?? {}), ...full }, this.backup.status ?? {})) return;
    this.backup = await this.client.patchStatus(BackupKind, this.ns, this.name, full, {
      resourceVersion: this.backup.metadata.resourceVersion ?? '',
    });
  }

  private cond(type: string, status: ConditionStatus, reason: string, message: string) {
    return { type, status, reason, message };
  }

  /** Ends the backup as Failed: thaws the guest first if it may be frozen, then records why. */
  private async fail(reason: string, message: string): Promise<ReconcileResult | void> {
    await this.thawIfFrozen();
    const now = formatTime(this.ctx.clock.now());
    await this.writeStatus({
      phase: BackupPhase.Failed,
      message,
      completionTime: now,
      conditions: this.conditions([
        this.cond(ConditionType.Failed, 'True', reason, message),
        this.cond(ConditionType.Progressing, 'False', reason, 'the backup ended'),
        this.cond(ConditionType.Ready, 'False', reason, message),
      ]),
    });
    await this.ctx.events.warning(this.backup, reason, message);
    this.observeEnd('Failed');
    return { requeueAfterMs: 0 };
  }

  private observeEnd(result: string): void {
    const started = this.backup.status?.startTime
      ? new Date(this.backup.status.startTime).getTime()
      : undefined;
    if (started === undefined) return;
    const seconds = Math.max(0, (this.ctx.clock.nowMs() - started) / 1000);
    this.ctx.metrics.backupDuration.observe(
      { origin: this.backup.spec.origin, type: this.backup.status?.type ?? 'Unknown', result },
      seconds,
    );
  }

  // ------------------------------------------------------------------ Pending

  private async repository(): Promise<{
    repo?: BackupRepository;
    problem?: { wait: boolean; reason: string; message: string };
  }> {
    const name = this.backup.spec.repositoryRef.name;
    const repo = await this.client.tryGet(BackupRepositoryKind, this.ns, name);
    if (!repo)
      return {
        problem: {
          wait: false,
          reason: Reason.RepositoryNotFound,
          message: `BackupRepository ${name} not found in namespace ${this.ns}: create it or fix spec.repositoryRef`,
        },
      };
    const r = repositoryReadiness(repo);
    if (r.state === 'ready') return { repo };
    return {
      repo,
      problem: {
        wait: r.state === 'pending',
        reason: r.state === 'pending' ? Reason.RepositoryNotReady : Reason.RepositoryNotReady,
        message: r.message,
      },
    };
  }

  /** The server's volumes with their PVCs, or a problem saying what to fix. */
  private async resolveServer(): Promise<
    { volumes: { vol: ServerVolume; pvc?: V1PersistentVolumeClaim }[] } | { reason: string; message: string }
  > {
    const server = this.backup.spec.server;
    let vols: ServerVolume[];
    if (server.kind === ServerKind.VirtualMachine) {
      const vm = await this.client.tryGet(VirtualMachineKind, this.ns, server.name);
      if (!vm)
        return {
          reason: Reason.ServerNotFound,
          message: `VirtualMachine ${server.name} not found in namespace ${this.ns}: create it or fix spec.server`,
        };
      vols = volumesOfVirtualMachine(vm as Parameters<typeof volumesOfVirtualMachine>[0]);
      if (vols.length === 0)
        return {
          reason: Reason.NoVolumes,
          message: `VirtualMachine ${server.name} has no persistentVolumeClaim or dataVolume volumes to back up`,
        };
    } else {
      const list = await this.client.list(Kinds.PersistentVolumeClaim, this.ns, {
        labelSelector: pvcGroupSelector(server.name),
      });
      vols = volumesOfPVCGroup(list.items);
      if (vols.length === 0)
        return {
          reason: Reason.ServerNotFound,
          message: `no PVC labelled ${pvcGroupSelector(server.name)} in namespace ${this.ns}: label the server's PVCs or fix spec.server`,
        };
    }
    const out: { vol: ServerVolume; pvc?: V1PersistentVolumeClaim }[] = [];
    for (const vol of vols) {
      const pvc = await this.client.tryGet(Kinds.PersistentVolumeClaim, this.ns, vol.claimName);
      out.push({ vol, ...(pvc ? { pvc } : {}) });
    }
    return { volumes: out };
  }

  async pending(): Promise<ReconcileResult | void> {
    const { problem } = await this.repository();
    if (problem && !problem.wait) return this.fail(problem.reason, problem.message);
    if (problem) return this.waitPending(problem.reason, problem.message);

    const resolved = await this.resolveServer();
    if ('reason' in resolved) return this.fail(resolved.reason, resolved.message);
    const missing = resolved.volumes.filter((v) => !v.pvc);
    if (missing.length)
      return this.fail(
        Reason.ServerNotFound,
        `PVC ${missing.map((m) => m.vol.claimName).join(', ')} of ${this.backup.spec.server.kind} ${this.backup.spec.server.name} not found: create it or fix the server's volumes`,
      );
    const unbound = resolved.volumes.filter((v) => v.pvc?.status?.phase !== 'Bound');
    if (unbound.length) {
      const msg = `PVC ${unbound.map((u) => u.vol.claimName).join(', ')} not Bound`;
      if (this.ctx.clock.now().getTime() - creationMs(this.backup) > this.settings.pvcBindGraceMs)
        return this.fail(
          Reason.PVCNotBound,
          `${msg}: check its StorageClass and provisioner, then retry the backup`,
        );
      return this.waitPending(Reason.PVCNotBound, `${msg} yet`);
    }

    const lock = await acquireServerLock(this.client, this.ns, this.backup.spec.server, this.holder, (h) =>
      holderActive(this.client, this.ns, h),
    );
    if (!lock.acquired)
      return this.waitPending(
        Reason.ServerBusy,
        `waiting for ${lock.holder} to finish: one backup or restore per server at a time`,
        true,
      );
    // The backup starts once it holds the server, after whatever held it before has ended.
    const now = this.ctx.clock.now();

    const volumes: VolumeBackupStatus[] = resolved.volumes.map(({ vol, pvc }) => {
      const capacity = pvc?.status?.capacity?.storage ?? pvc?.spec?.resources?.requests?.storage;
      const size = quantityBytes(capacity);
      return {
        name: vol.name,
        pvc: vol.claimName,
        volumeMode: pvc?.spec?.volumeMode === 'Block' ? 'Block' : 'Filesystem',
        ...(pvc?.spec?.storageClassName ? { storageClassName: pvc.spec.storageClassName } : {}),
        ...(pvc?.spec?.accessModes ? { accessModes: pvc.spec.accessModes } : {}),
        ...(size !== undefined ? { sizeBytes: size } : {}),
      };
    });
    await this.writeStatus({
      phase: BackupPhase.Snapshotting,
      startTime: formatTime(now),
      volumes,
      message: `snapshotting ${volumes.length} volume(s)`,
      conditions: this.conditions([
        this.cond(ConditionType.Progressing, 'True', Reason.InProgress, 'taking snapshots'),
        this.cond(ConditionType.Snapshotted, 'False', Reason.InProgress, 'snapshots not taken yet'),
      ]),
    });
    await this.ctx.events.normal(
      this.backup,
      'Started',
      `backing up ${volumes.map((v) => v.pvc).join(', ')}`,
    );
  }

  /**
   * Waits in Pending. A Pending holder counts as active, so one that waits for something else than
   * the server (say, its repository) lets the server go; `busy` says another holds it already.
   */
  private async waitPending(reason: string, message: string, busy = false): Promise<ReconcileResult> {
    if (!busy) await releaseServerLock(this.client, this.ns, this.backup.spec.server, this.holder);
    await this.writeStatus({
      phase: BackupPhase.Pending,
      message,
      conditions: this.conditions([this.cond(ConditionType.Progressing, 'False', reason, message)]),
    });
    return this.poll;
  }

  // ------------------------------------------------------------------ Snapshotting

  private needsThaw(): boolean {
    const q = getCondition(this.backup.status?.conditions, ConditionType.Quiesced);
    return Boolean(q && q.status !== 'False' && q.reason !== THAWED);
  }

  /** Thaws the guest if this backup may have frozen it. Always tried, whatever else failed. */
  private async thawIfFrozen(): Promise<void> {
    if (!this.needsThaw() || this.backup.spec.server.kind !== ServerKind.VirtualMachine) return;
    try {
      await this.client.unfreezeVM(this.ns, this.backup.spec.server.name);
    } catch (err) {
      // A VMI that is gone is not frozen; anything else is retried by the caller's next reconcile.
      if (!isNotFound(err)) throw err;
    }
    const q = getCondition(this.backup.status?.conditions, ConditionType.Quiesced);
    const wasFrozen = q?.status === 'True';
    await this.writeStatus({
      conditions: this.conditions([
        wasFrozen
          ? this.cond(
              ConditionType.Quiesced,
              'True',
              THAWED,
              'guest filesystems were frozen while the snapshots were cut, then thawed',
            )
          : this.cond(
              ConditionType.Quiesced,
              'False',
              Reason.FreezeFailed,
              'the guest was not frozen; thawed as a precaution',
            ),
      ]),
    });
    await this.ctx.events.normal(
      this.backup,
      'Thawed',
      `unfroze VirtualMachine ${this.backup.spec.server.name}`,
    );
  }

  /** Decides on and performs the guest freeze; records the outcome in the Quiesced condition. */
  private async quiesce(): Promise<void> {
    const server = this.backup.spec.server;
    const crash = async (reason: string, message: string) => {
      await this.writeStatus({
        consistency: Consistency.CrashConsistent,
        conditions: this.conditions([
          this.cond(ConditionType.Quiesced, 'False', reason, `${message}: the backup is crash-consistent`),
        ]),
      });
    };
    if (server.kind !== ServerKind.VirtualMachine)
      return crash('NoGuest', 'a PVC group has no guest to freeze');
    const vmi = await this.client.tryGet(VirtualMachineInstanceKind, this.ns, server.name);
    if (!vmi || vmi.status?.phase !== 'Running')
      return crash(Reason.ServerNotRunning, `VirtualMachine ${server.name} is not running`);
    if ((vmi.status?.conditions ?? []).some((c) => c.type === 'Paused' && c.status === 'True'))
      return crash(Reason.ServerNotRunning, `VirtualMachine ${server.name} is paused and cannot be frozen`);

    // Record the intent before acting: if we die after freezing, the next run knows to thaw.
    await this.writeStatus({
      conditions: this.conditions([
        this.cond(ConditionType.Quiesced, 'Unknown', FREEZING, 'freezing guest filesystems'),
      ]),
    });
    const thawAfter = `${Math.ceil((this.settings.freezeTimeoutMs * 2) / 1000)}s`;
    try {
      await this.client.freezeVM(this.ns, server.name, thawAfter);
    } catch (err) {
      const why = (err as Error).message;
      try {
        await this.client.unfreezeVM(this.ns, server.name);
      } catch {
        // the freeze failed, so there is most likely nothing to thaw
      }
      const agent = /agent/i.test(why);
      await this.writeStatus({
        consistency: Consistency.CrashConsistent,
        conditions: this.conditions([
          this.cond(
            ConditionType.Quiesced,
            'False',
            agent ? Reason.GuestAgentUnavailable : Reason.FreezeFailed,
            `guest filesystems could not be frozen (${why}): the backup is crash-consistent`,
          ),
        ]),
      });
      await this.ctx.events.warning(
        this.backup,
        agent ? Reason.GuestAgentUnavailable : Reason.FreezeFailed,
        `freeze failed, continuing crash-consistent: ${why}`,
      );
      return;
    }
    await this.writeStatus({
      consistency: Consistency.ApplicationConsistent,
      conditions: this.conditions([
        this.cond(
          ConditionType.Quiesced,
          'True',
          Reason.Frozen,
          'guest filesystems frozen for the snapshots',
        ),
      ]),
    });
    await this.ctx.events.normal(this.backup, Reason.Frozen, `froze VirtualMachine ${server.name}`);
  }

  /** This backup's VolumeSnapshots, from the API: the snapshot steps decide on them. */
  private async snapshots(): Promise<VolumeSnapshot[]> {
    return this.children(VolumeSnapshotKind, true);
  }

  private sourceVolumes(): SourceVolume[] {
    return (this.backup.status?.volumes ?? []).map((v) => ({
      name: v.name,
      pvc: v.pvc,
      block: v.volumeMode === 'Block',
      capacity: v.sizeBytes !== undefined ? String(v.sizeBytes) : '1Gi',
      ...(v.storageClassName ? { storageClassName: v.storageClassName } : {}),
    }));
  }

  async snapshotting(): Promise<ReconcileResult | void> {
    const q = getCondition(this.backup.status?.conditions, ConditionType.Quiesced);
    if (!q || q.reason === FREEZING) {
      await this.quiesce();
      return { requeueAfterMs: 0 };
    }
    const now = this.ctx.clock.nowMs();
    const wanted = desiredSnapshots(
      { name: this.name, namespace: this.ns },
      this.sourceVolumes(),
      this.settings.snapshotClassName,
    );
    let have = await this.snapshots();
    const missing = wanted.filter((w) => !have.some((h) => h.metadata?.name === w.metadata?.name));
    if (missing.length) {
      // All in one step, back to back, while the guest is frozen: one instant for all the disks.
      for (const snap of missing) {
        try {
          await this.client.create(VolumeSnapshotKind, snap as VolumeSnapshot & { metadata: object });
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
      }
      await this.ctx.events.normal(
        this.backup,
        'SnapshotsCreated',
        `created ${missing.length} VolumeSnapshot(s)`,
      );
      have = await this.snapshots();
    }
    const ours = have.filter((h) => wanted.some((w) => w.metadata?.name === h.metadata?.name));
    const broken = ours.find((s) => s.status?.error?.message);
    if (broken)
      return this.fail(
        Reason.SnapshotFailed,
        `VolumeSnapshot ${broken.metadata?.name} of PVC ${broken.spec.source.persistentVolumeClaimName} failed: ${broken.status?.error?.message}`,
      );
    const cut =
      ours.length === wanted.length && ours.every((s) => s.status?.creationTime || s.status?.readyToUse);
    if (cut && this.needsThaw()) {
      await this.thawIfFrozen();
      return { requeueAfterMs: 0 };
    }
    if (!cut && this.needsThaw()) {
      const frozenSince = q.lastTransitionTime ? new Date(q.lastTransitionTime).getTime() : now;
      if (now - frozenSince > this.settings.freezeTimeoutMs)
        return this.fail(
          Reason.SnapshotFailed,
          `snapshots were not cut within ${Math.round(this.settings.freezeTimeoutMs / 1000)}s while the guest was frozen (the guest was thawed): check the CSI snapshotter, then retry`,
        );
    }
    const ready = ours.length === wanted.length && ours.every((s) => s.status?.readyToUse);
    if (!ready) {
      const started = this.backup.status?.startTime ? new Date(this.backup.status.startTime).getTime() : now;
      if (now - started > this.settings.snapshotTimeoutMs) {
        const slow = ours.filter((s) => !s.status?.readyToUse).map((s) => s.metadata?.name);
        return this.fail(
          Reason.SnapshotFailed,
          `VolumeSnapshot(s) ${slow.join(', ')} not ready after ${Math.round(this.settings.snapshotTimeoutMs / 1000)}s: check the CSI snapshotter`,
        );
      }
      return this.poll;
    }
    const volumes = (this.backup.status?.volumes ?? []).map((v) => {
      const s = ours.find((o) => o.spec.source.persistentVolumeClaimName === v.pvc);
      const size = quantityBytes(s?.status?.restoreSize);
      return {
        ...v,
        ...(s?.metadata?.name ? { snapshotName: s.metadata.name } : {}),
        ...(size ? { sizeBytes: size } : {}),
      };
    });
    await this.writeStatus({
      phase: BackupPhase.Uploading,
      volumes,
      message: 'uploading changed blocks',
      conditions: this.conditions([
        this.cond(
          ConditionType.Snapshotted,
          'True',
          Reason.SnapshotsReady,
          `${ours.length} VolumeSnapshot(s) ready`,
        ),
        this.cond(ConditionType.Uploaded, 'False', Reason.InProgress, 'upload Job starting'),
      ]),
    });
    await this.ctx.events.normal(
      this.backup,
      Reason.SnapshotsReady,
      `${ours.length} VolumeSnapshot(s) ready to use`,
    );
  }

  // ------------------------------------------------------------------ Uploading

  /**
   * The Job's pods: from the cache while it runs (progress is polled), from the API once it has
   * ended, so the result is read from pods at least as new as the Job that said it ended.
   */
  private jobPods(job: V1Job): Promise<V1Pod[]> {
    return jobPodsOf(this.ctx, job, backupChildLabels(this.name));
  }

  /** This backup's children of a kind, from the cache or, when `fresh`, from the API. */
  private children<T extends KubernetesObject>(kind: ResourceKind<T>, fresh: boolean): Promise<T[]> {
    return listChildren(this.ctx, kind, this.ns, backupChildLabels(this.name), fresh);
  }

  /** The parent of an incremental: the server's latest Available backup in the same repository. */
  private async parent(): Promise<Backup | undefined> {
    if (this.backup.spec.forceFull) return undefined;
    const s = this.backup.spec;
    const list = await this.client.list(BackupKind, this.ns, {
      labelSelector: `${LABEL_SERVER_KIND}=${s.server.kind},${LABEL_SERVER_NAME}=${labelValue(s.server.name)}`,
    });
    return latestAvailable(list.items, this.backup);
  }

  async uploading(): Promise<ReconcileResult | void> {
    const repoResult = await this.repository();
    if (!repoResult.repo)
      return this.fail(
        repoResult.problem?.reason ?? Reason.RepositoryNotFound,
        repoResult.problem?.message ?? '',
      );
    let job = await this.client.tryGet(Kinds.Job, this.ns, uploadJobName(this.name));
    // An upload Job given up on (its parent was missing) is still going away: wait for it.
    if (job?.metadata?.deletionTimestamp) return this.poll;
    if (!job) {
      const snaps = await this.snapshots();
      const planned = this.backup.status?.volumes ?? [];
      const snapOf = (pvc: string) => snaps.find((s) => s.spec.source.persistentVolumeClaimName === pvc);
      const lost = planned.filter((v) => !snapOf(v.pvc));
      if (lost.length)
        return this.fail(
          Reason.SnapshotFailed,
          `VolumeSnapshot of PVC ${lost.map((l) => l.pvc).join(', ')} disappeared before the upload: retry the backup`,
        );
      for (const v of planned) {
        try {
          await this.client.create(
            Kinds.PersistentVolumeClaim,
            temporaryPVC({ name: this.name, namespace: this.ns }, snapOf(v.pvc) as VolumeSnapshot),
          );
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
      }
      // A parent whose manifests proved missing is never used again: this backup becomes Full.
      const parentLost =
        getCondition(this.backup.status?.conditions, CONDITION_PARENT_USABLE)?.status === 'False';
      const parent = parentLost ? undefined : await this.parent();
      const manifests = parentManifests(parent);
      const volumes: UploadVolume[] = planned.map((v) => {
        const pm = manifests.get(`pvc:${v.pvc}`) ?? manifests.get(`name:${v.name}`);
        return {
          name: v.name,
          pvc: v.pvc,
          block: v.volumeMode === 'Block',
          capacity: String(v.sizeBytes ?? 0),
          claimName: snapOf(v.pvc)?.metadata?.name ?? '',
          ...(pm ? { parentManifest: pm } : {}),
        };
      });
      const parentName = volumes.some((v) => v.parentManifest) ? parent?.metadata.name : undefined;
      const spec = uploadJob({
        backup: { name: this.name, namespace: this.ns, uid: this.backup.metadata.uid ?? '' },
        server: this.backup.spec.server,
        ...(parentName ? { parentBackup: parentName } : {}),
        volumes,
        repo: repositoryAccess(repoResult.repo),
        settings: this.settings.jobs,
      });
      try {
        job = await createMoverJob(this.client, spec);
        await this.ctx.events.normal(
          this.backup,
          'UploadStarted',
          parentName ? `incremental upload against ${parentName}` : 'full upload (no parent backup)',
        );
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        job = await this.client.get(Kinds.Job, this.ns, uploadJobName(this.name));
      }
      // The Job as stored is the record of the plan (a predecessor may have created it).
      const actualParent = job.metadata?.annotations?.[ANNOTATION_PARENT];
      await this.writeStatus({
        type: actualParent ? 'Incremental' : 'Full',
        ...(actualParent ? { parentBackup: actualParent } : {}),
        conditions: this.conditions([
          this.cond(
            ConditionType.Uploaded,
            'False',
            Reason.InProgress,
            `Job ${uploadJobName(this.name)} running`,
          ),
        ]),
      });
      return this.poll;
    }
    const pods = await this.jobPods(job);
    const outcome = uploadOutcome(
      job,
      pods,
      this.backup.status?.volumes ?? [],
      repoResult.repo.spec.blockSize ?? DEFAULT_BLOCK_SIZE,
    );
    if (outcome.state === 'running') {
      const stuck = podCannotStart(pods, this.ctx.clock.nowMs(), this.settings.podStartGraceMs);
      if (stuck) {
        await this.client.delete(Kinds.Job, this.ns, uploadJobName(this.name), {
          propagationPolicy: 'Background',
          ignoreNotFound: true,
        });
        return this.fail(
          Reason.PodCannotStart,
          `${stuck}. Gave up after ${Math.round(this.settings.podStartGraceMs / 1000)}s and let the server go: fix that (e.g. create the missing Secret), then back up again`,
        );
      }
      await this.writeStatus({ progress: await this.progress(job, pods) });
      return this.poll;
    }
    if (outcome.state === 'failed' && outcome.reason === Reason.ParentMissing && outcome.parentBackup) {
      // The parent's data is gone from the repository (its backend changed, it was deleted behind our
      // back): never a permanent failure. Start over as a Full backup and say why.
      await this.client.delete(Kinds.Job, this.ns, uploadJobName(this.name), {
        propagationPolicy: 'Background',
        ignoreNotFound: true,
      });
      const message = `parent Backup ${outcome.parentBackup} cannot be used (${outcome.message}): this backup is Full instead`;
      await this.writeStatus({
        type: 'Full',
        parentBackup: null as unknown as string,
        conditions: this.conditions([
          this.cond(CONDITION_PARENT_USABLE, 'False', Reason.ParentMissing, message),
        ]),
      });
      await this.ctx.events.warning(this.backup, Reason.ParentMissing, message);
      return this.poll;
    }
    if (outcome.state === 'failed') {
      await this.writeStatus({ volumes: outcome.volumes });
      return this.fail(outcome.reason, outcome.message);
    }
    const now = formatTime(this.ctx.clock.now());
    const totals = outcome.totals;
    await this.writeStatus({
      phase: BackupPhase.Available,
      type: outcome.type,
      ...(outcome.parentBackup ? { parentBackup: outcome.parentBackup } : {}),
      volumes: outcome.volumes,
      totals,
      completionTime: now,
      progress: { percent: 100, bytesDone: totals.sizeBytes ?? 0, bytesTotal: totals.sizeBytes ?? 0 },
      message: availableMessage({ type: outcome.type, volumes: outcome.volumes, totals }),
      conditions: this.conditions([
        this.cond(
          ConditionType.Uploaded,
          'True',
          Reason.Succeeded,
          `${totals.uploadedBytes ?? 0} bytes uploaded`,
        ),
        this.cond(ConditionType.Progressing, 'False', Reason.Succeeded, 'the backup ended'),
        this.cond(ConditionType.Ready, 'True', Reason.Succeeded, 'the backup is available for restore'),
      ]),
    });
    this.ctx.metrics.bytesRead.inc({ origin: this.backup.spec.origin }, totals.sizeBytes ?? 0);
    this.ctx.metrics.bytesUploaded.inc({ origin: this.backup.spec.origin }, totals.uploadedBytes ?? 0);
    this.observeEnd('Available');
    await this.ctx.events.normal(this.backup, 'Available', this.backup.status?.message ?? 'backup available');
    return { requeueAfterMs: 0 };
  }

  /** Progress from the last JSON line of each container's log. */
  private async progress(job: V1Job, pods: V1Pod[]) {
    const running = pods.filter((p) => p.status?.phase === 'Running');
    const pod = running[running.length - 1];
    const total = (this.backup.status?.volumes ?? []).reduce((n, v) => n + (v.sizeBytes ?? 0), 0);
    if (!pod) return combinedProgress([], total);
    const parts = [];
    for (const c of job.spec?.template.spec?.containers ?? []) {
      try {
        const log = await this.client.podLogs(this.ns, pod.metadata?.name ?? '', {
          container: c.name,
          tailLines: 20,
        });
        parts.push(lastProgress(log));
      } catch {
        // not started yet, or its log is gone: no progress to show for it
        parts.push(undefined);
      }
    }
    return combinedProgress(parts, total);
  }

  // ------------------------------------------------------------------ Available / Failed / Restoring

  /** Final phases: children cleaned up, the server released, Restoring shown while a Restore reads it. */
  async settle(): Promise<ReconcileResult | void> {
    await this.cleanupChildren(false, false);
    await releaseServerLock(this.client, this.ns, this.backup.spec.server, this.holder);
    const phase = this.backup.status?.phase;
    if (phase !== BackupPhase.Available && phase !== BackupPhase.Restoring) return;
    await this.recordIntegrity();
    const restoring = await this.activeRestores(false);
    // Status says what is true now: who reads it at this moment, or what it holds.
    const want = restoring.length ? BackupPhase.Restoring : BackupPhase.Available;
    const message = restoring.length
      ? `being restored by ${restoring.map((r) => r.metadata.name).join(', ')}`
      : availableMessage(this.backup.status);
    if (want !== phase || message !== this.backup.status?.message)
      await this.writeStatus({ phase: want, message });
    return restoring.length ? this.poll : undefined;
  }

  /**
   * Shows what the repository's last integrity check found about this backup's data: Available alone
   * must not hide damage. The condition appears once a check has run.
   */
  private async recordIntegrity(): Promise<void> {
    const repo = this.ctx.cache
      .list(BackupRepositoryKind, { namespace: this.ns })
      .find((r) => r.metadata.name === this.backup.spec.repositoryRef.name);
    if (!repo?.status?.lastVerifyTime) return;
    const damaged = new Set(repo.status.damagedManifests ?? []);
    const hit = (this.backup.status?.volumes ?? []).filter((v) => v.manifestID && damaged.has(v.manifestID));
    const cond = hit.length
      ? this.cond(
          ConditionType.DataIntact,
          'False',
          Reason.CorruptData,
          `the integrity check of ${repo.status.lastVerifyTime} found damaged blocks in volume(s) ${hit.map((v) => v.name).join(', ')}: back the server up again (the new backup writes them again and heals this one), or restore another backup`,
        )
      : this.cond(
          ConditionType.DataIntact,
          'True',
          Reason.Succeeded,
          `the integrity check of ${repo.status.lastVerifyTime} found no damage in this backup's data`,
        );
    const have = getCondition(this.backup.status?.conditions, ConditionType.DataIntact);
    if (have?.status === cond.status && have.message === cond.message) return;
    await this.writeStatus({
      conditions: this.conditions([
        cond,
        hit.length
          ? this.cond(ConditionType.Ready, 'False', Reason.CorruptData, cond.message)
          : this.cond(ConditionType.Ready, 'True', Reason.Succeeded, 'the backup is available for restore'),
      ]),
    });
    if (hit.length) await this.ctx.events.warning(this.backup, Reason.CorruptData, cond.message);
  }

  /** Restores reading this backup, from the cache or, when `fresh`, from the API. */
  private async activeRestores(fresh: boolean): Promise<Restore[]> {
    const all = fresh
      ? (await this.client.list(RestoreKind, this.ns)).items
      : this.ctx.cache.list(RestoreKind, { namespace: this.ns });
    return all.filter(
      (r) => r.spec.backupRef.name === this.name && RESTORE_ACTIVE.includes(r.status?.phase ?? ''),
    );
  }

  /**
   * Deletes snapshots, temporary PVCs and the upload Job (with its pods); the delete Job too when `all`.
   * Settled backups look in the cache (a child it has not seen yet brings its own event, and with it
   * another cleanup); `fresh` reads the API, for the last cleanup before the finalizer goes.
   */
  private async cleanupChildren(all: boolean, fresh: boolean): Promise<void> {
    for (const j of await this.children(Kinds.Job, fresh)) {
      if (!all && j.metadata?.name === deleteJobName(this.name)) continue;
      await this.client.delete(Kinds.Job, this.ns, j.metadata?.name ?? '', {
        propagationPolicy: 'Background',
        ignoreNotFound: true,
      });
    }
    for (const p of await this.children(Kinds.PersistentVolumeClaim, fresh))
      await this.client.delete(Kinds.PersistentVolumeClaim, this.ns, p.metadata?.name ?? '', {
        ignoreNotFound: true,
      });
    for (const s of await this.children(VolumeSnapshotKind, fresh))
      await this.client.delete(VolumeSnapshotKind, this.ns, s.metadata?.name ?? '', { ignoreNotFound: true });
  }

  // ------------------------------------------------------------------ deletion

  /**
   * Deleting: let a running upload finish (its manifests must not leak), delete every manifest of the
   * backup with a mover Job, clean up children, release the server, then drop the finalizer.
   */
  async finalize(): Promise<ReconcileResult | void> {
    if (!hasFinalizer(this.backup, FINALIZER_DELETE_BACKUP_DATA)) return;
    await this.thawIfFrozen();
    if ((await this.activeRestores(true)).length)
      return this.deleting('waiting for the Restore reading this backup to finish before deleting its data');
    const upload = await this.client.tryGet(Kinds.Job, this.ns, uploadJobName(this.name));
    const manifests = new Set(manifestsOf(this.backup));
    if (upload) {
      if (jobState(upload).state === 'running')
        return this.deleting('waiting for the running upload to end before deleting its data');
      for (const o of outcomesByContainer(await this.jobPods(upload)).values())
        if (o.state === 'succeeded' && typeof o.summary.manifest === 'string')
          manifests.add(o.summary.manifest);
    }
    if (manifests.size) {
      const repo = await this.client.tryGet(
        BackupRepositoryKind,
        this.ns,
        this.backup.spec.repositoryRef.name,
      );
      if (repo) {
        let job = await this.client.tryGet(Kinds.Job, this.ns, deleteJobName(this.name));
        if (!job) {
          try {
            job = await createMoverJob(
              this.client,
              deleteJob({
                backup: { name: this.name, namespace: this.ns },
                manifests: [...manifests].sort(),
                repo: repositoryAccess(repo),
                settings: this.settings.jobs,
              }),
            );
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
          }
          return this.deleting(
            `removing ${manifests.size} manifest(s) from BackupRepository ${repo.metadata.name}`,
          );
        }
        const st = jobState(job);
        if (st.state === 'running')
          return this.deleting(
            `removing ${manifests.size} manifest(s) from BackupRepository ${repo.metadata.name}`,
          );
        if (st.state === 'failed') {
          const pods = await this.jobPods(job);
          const o = outcomesByContainer(pods).get('delete');
          // Exit 4: the manifests are gone already (an earlier attempt got there).
          if (!(o?.state === 'failed' && o.exitCode === 4)) {
            const why = o?.state === 'failed' ? o.error.message : `${st.reason}: ${st.message}`;
            await this.client.delete(Kinds.Job, this.ns, deleteJobName(this.name), {
              propagationPolicy: 'Background',
              ignoreNotFound: true,
            });
            await this.ctx.events.warning(
              this.backup,
              'DeleteFailed',
              `deleting the backup's data failed, retrying: ${why}`,
            );
            return {
              ...(await this.deleting(`deleting the backup's data failed (${why}); retrying`)),
              requeueAfterMs: this.settings.repositoryRetryMs,
            };
          }
        }
      } else if (!(await this.namespaceTerminating())) {
        // The repository keeps a finalizer while Backups use it, so this means someone forced it
        // away. Never drop the finalizer silently: the data would stay with nothing pointing at it.
        const message = `BackupRepository ${this.backup.spec.repositoryRef.name} is gone, so this backup's data could not be removed from its storage: re-create the repository (same backend and key) to remove it, or remove the finalizer ${FINALIZER_DELETE_BACKUP_DATA} to drop this Backup and leave its data`;
        if (this.backup.status?.message !== message)
          await this.ctx.events.warning(this.backup, Reason.RepositoryNotFound, message);
        return { ...(await this.deleting(message)), requeueAfterMs: this.settings.repositoryRetryMs };
      } else {
        await this.ctx.events.warning(
          this.backup,
          Reason.RepositoryNotFound,
          `namespace ${this.ns} is being deleted together with BackupRepository ${this.backup.spec.repositoryRef.name}: the backup's data was not removed from its storage`,
        );
      }
    }
    await this.cleanupChildren(true, true);
    await releaseServerLock(this.client, this.ns, this.backup.spec.server, this.holder);
    await removeFinalizer(this.client, BackupKind, this.backup, FINALIZER_DELETE_BACKUP_DATA);
    await this.ctx.events.normal(
      this.backup,
      'Deleted',
      `removed ${manifests.size} manifest(s) from the repository`,
    );
  }

  /** Whether the Backup's namespace is being deleted (no new Job can be created in it). */
  private async namespaceTerminating(): Promise<boolean> {
    const ns = await this.client.tryGet(Kinds.Namespace, '', this.ns);
    return Boolean(!ns || ns.metadata?.deletionTimestamp);
  }

  private async deleting(message: string): Promise<ReconcileResult> {
    if (this.backup.status?.phase !== BackupPhase.Deleting || this.backup.status?.message !== message)
      await this.writeStatus({ phase: BackupPhase.Deleting, message });
    return this.poll;
  }
}

/** Whether the holder of a server lock (`Backup/x` or `Restore/y`) still needs the server. */
export async function holderActive(client: KubeClient, namespace: string, holder: string): Promise<boolean> {
  const [kind, name] = holder.split('/', 2);
  if (kind === 'Backup') {
    const b = await client.tryGet(BackupKind, namespace, name);
    return Boolean(b && ACTIVE_BACKUP_PHASES.includes(b.status?.phase ?? BackupPhase.Pending));
  }
  if (kind === 'Restore') {
    const r = await client.tryGet(RestoreKind, namespace, name);
    return Boolean(
      r && r.status?.phase !== RestorePhase.Completed && r.status?.phase !== RestorePhase.Failed,
    );
  }
  return false;
}

/** Labels selecting a Backup's children (exported for tests and the Restore controller). */
export { backupChildLabels };
