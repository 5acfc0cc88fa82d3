/**
 * The Restore controller: Pending -> StoppingServer (in place: VM halted, its run strategy remembered on
 * the VM) -> Restoring (a Job runs `csbs mover restore --only-changed` per volume) -> StartingServer
 * (the remembered strategy put back when powerOnAfterRestore) -> Completed, or Failed with the volume and
 * what the mover said. A failed in-place restore leaves the VM halted with a condition saying why: a
 * half-restored disk must never silently boot.
 *
 * Two rules keep a restore from writing the wrong disk. A NewPVCs restore writes only PVCs it created
 * itself (they carry its uid) and removes them again if it fails. An in-place restore holds its VM with
 * `runStrategy: Halted`; KubeVirt has no lock a third party can hold (its own `restoreInProgress` belongs
 * to its snapshot controller), so every poll checks that the VM is still halted, its spec unchanged
 * since (the generation recorded on it) and no instance of it running, and again before power-on. A VM
 * started under the restore is halted again, the Job stopped, and the restore fails saying so.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { BackupPhase, ConditionType, Reason, RestorePhase } from '../../api/conditions.js';
import { ServerKind } from '../../api/constants.js';
import {
  ANNOTATION_RESTORE_IN_PROGRESS,
  FINALIZER_RESTORE_CLEANUP,
  LABEL_RESTORE,
} from '../../api/labels.js';
import type { Backup, Restore, RestoreStatus } from '../../api/types.js';
import type { KubeClient } from '../../runtime/client.js';
import { formatTime, getCondition, setConditions, type ConditionInput } from '../../runtime/conditions.js';
import { deepEqual } from '../../runtime/equality.js';
import { isAlreadyExists } from '../../runtime/errors.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../runtime/finalizers.js';
import { Kinds } from '../../runtime/kinds.js';
import {
  mapByLabel,
  type ObjectKey,
  type ReconcileContext,
  type Reconciler,
  type ReconcileResult,
} from '../../runtime/reconciler.js';
import { holderActive } from '../backup/reconciler.js';
import { combinedProgress } from '../backup/status.js';
import { createMoverJob, jobPodsOf, podCannotStart } from '../shared/jobs.js';
import { MANAGED_SELECTOR } from '../shared/mover.js';
import {
  BackupKind,
  BackupRepositoryKind,
  RestoreKind,
  VirtualMachineInstanceKind,
  VirtualMachineKind,
} from '../shared/kinds.js';
import { lastProgress } from '../shared/mover-output.js';
import { repositoryAccess } from '../shared/repository.js';
import { acquireServerLock, releaseServerLock, type LockHolder } from '../shared/serverlock.js';
import type { ControllerSettings } from '../shared/settings.js';
import {
  createdBy,
  haltDisturbed,
  haltPatch,
  haltedGenerationPatch,
  inPlace,
  leaveHaltedPatch,
  newPVC,
  plannedVolumes,
  restoreJob,
  restoreJobName,
  startPatch,
  restoreChildLabels,
} from './desired.js';
import { restoreOutcome } from './status.js';

/** The Restore reconciler. */
export class RestoreReconciler implements Reconciler {
  readonly name = 'restore';
  readonly for = Kinds.Restore;
  readonly watches;

  constructor(private readonly settings: ControllerSettings) {
    const byLabel = mapByLabel(LABEL_RESTORE);
    this.watches = [
      { kind: Kinds.Job, map: byLabel, selector: MANAGED_SELECTOR },
      { kind: Kinds.Pod, map: byLabel, selector: MANAGED_SELECTOR },
    ];
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const restore = await ctx.client.tryGet(RestoreKind, key.namespace, key.name);
    if (!restore) return;
    const run = new RestoreRun(restore, ctx, this.settings);
    if (restore.metadata.deletionTimestamp) return run.finalize();
    if (!hasFinalizer(restore, FINALIZER_RESTORE_CLEANUP)) {
      await addFinalizer(ctx.client, RestoreKind, restore, FINALIZER_RESTORE_CLEANUP);
      return;
    }
    switch (restore.status?.phase ?? RestorePhase.Pending) {
      case RestorePhase.Pending:
        return run.pending();
      case RestorePhase.StoppingServer:
        return run.stopping();
      case RestorePhase.Restoring:
        return run.restoring();
      case RestorePhase.StartingServer:
        return run.starting();
      default:
        return run.settle();
    }
  }
}

class RestoreRun {
  private readonly client: KubeClient;
  private readonly ns: string;
  private readonly name: string;

  constructor(
    private restore: Restore,
    private readonly ctx: ReconcileContext,
    private readonly settings: ControllerSettings,
  ) {
    this.client = ctx.client;
    this.ns = restore.metadata.namespace ?? '';
    this.name = restore.metadata.name ?? '';
  }

  private get holder(): LockHolder {
    return `Restore/${this.name}`;
  }

  private get poll(): ReconcileResult {
    return { requeueAfterMs: this.settings.pollMs };
  }

  private conditions(inputs: Omit<ConditionInput, 'observedGeneration'>[]) {
    const gen = this.restore.metadata.generation;
    return setConditions(
      this.restore.status?.conditions,
      inputs.map((c) => ({ ...c, ...(gen !== undefined ? { observedGeneration: gen } : {}) })),
      this.ctx.clock.now(),
    );
  }

  private async write(patch: RestoreStatus): Promise<void> {
    const full = { ...patch, observedGeneration: this.restore.metadata.generation };
    if (deepEqual({ ...(this.restore.status ?? {}), ...full }, this.restore.status ?? {})) return;
    this.restore = await this.client.patchStatus(RestoreKind, this.ns, this.name, full, {
      resourceVersion: this.restore.metadata.resourceVersion ?? '',
    });
  }

  private async backup(): Promise<Backup | undefined> {
    return this.client.tryGet(BackupKind, this.ns, this.restore.spec.backupRef.name);
  }

  /** Whether this restore stops and starts a VirtualMachine. */
  private vmInPlace(backup: Backup): boolean {
    return inPlace(this.restore) && backup.spec.server.kind === ServerKind.VirtualMachine;
  }

  private async fail(
    reason: string,
    message: string,
    extra: Omit<ConditionInput, 'observedGeneration'>[] = [],
  ): Promise<ReconcileResult> {
    await this.write({
      phase: RestorePhase.Failed,
      message,
      completionTime: formatTime(this.ctx.clock.now()),
      conditions: this.conditions([
        { type: ConditionType.Failed, status: 'True', reason, message },
        { type: ConditionType.Progressing, status: 'False', reason, message: 'the restore ended' },
        ...extra,
      ]),
    });
    await this.ctx.events.warning(this.restore, reason, message);
    this.observeEnd('Failed');
    return { requeueAfterMs: 0 };
  }

  private observeEnd(result: string): void {
    const started = this.restore.status?.startTime
      ? new Date(this.restore.status.startTime).getTime()
      : undefined;
    if (started !== undefined)
      this.ctx.metrics.restoreDuration.observe(
        { result },
        Math.max(0, (this.ctx.clock.nowMs() - started) / 1000),
      );
  }

  async pending(): Promise<ReconcileResult | void> {
    const backup = await this.backup();
    const ref = this.restore.spec.backupRef.name;
    if (!backup) {
      const created = new Date(String(this.restore.metadata.creationTimestamp ?? '')).getTime();
      const waited = this.ctx.clock.nowMs() - (Number.isNaN(created) ? this.ctx.clock.nowMs() : created);
      const limit = Math.round(this.settings.backupWaitMs / 1000);
      if (waited < this.settings.backupWaitMs)
        return this.wait(
          Reason.BackupNotFound,
          `waiting for Backup ${ref} to appear in namespace ${this.ns} (manifests may arrive in any order); fails after ${limit}s`,
        );
      return this.fail(
        Reason.BackupNotFound,
        `Backup ${ref} not found in namespace ${this.ns} after waiting ${limit}s: fix spec.backupRef`,
      );
    }
    const phase = backup.status?.phase;
    if (phase === BackupPhase.Failed || phase === BackupPhase.Deleting || backup.metadata.deletionTimestamp)
      return this.fail(
        Reason.BackupNotAvailable,
        `Backup ${ref} is ${backup.metadata.deletionTimestamp ? 'being deleted' : phase}: choose an Available backup`,
      );
    if (phase !== BackupPhase.Available && phase !== BackupPhase.Restoring)
      return this.wait(
        Reason.BackupNotAvailable,
        `waiting for Backup ${ref} to become Available (now ${phase ?? 'Pending'})`,
      );
    const plan = plannedVolumes(this.restore, backup);
    if ('error' in plan) return this.fail(Reason.VolumeNotInBackup, plan.error);
    if (!inPlace(this.restore)) {
      const taken = await this.foreignTargets(plan.volumes.map((v) => v.claimName));
      if (taken.length) return this.failTargetsExist(taken);
    }
    if (inPlace(this.restore)) {
      const missing = [];
      for (const v of plan.volumes)
        if (!(await this.client.tryGet(Kinds.PersistentVolumeClaim, this.ns, v.claimName)))
          missing.push(v.claimName);
      if (missing.length)
        return this.fail(
          Reason.ServerNotFound,
          `PVC ${missing.join(', ')} no longer exists: restore into new PVCs (spec.target.mode: NewPVCs with a pvcNamePrefix)`,
        );
      if (
        backup.spec.server.kind === ServerKind.VirtualMachine &&
        !(await this.client.tryGet(VirtualMachineKind, this.ns, backup.spec.server.name))
      )
        return this.fail(
          Reason.ServerNotFound,
          `VirtualMachine ${backup.spec.server.name} not found: restore into new PVCs instead (spec.target.mode: NewPVCs)`,
        );
      const lock = await acquireServerLock(this.client, this.ns, backup.spec.server, this.holder, (h) =>
        holderActive(this.client, this.ns, h),
      );
      if (!lock.acquired)
        return this.wait(
          Reason.ServerBusy,
          `waiting for ${lock.holder} to finish: one backup or restore per server at a time`,
        );
    }
    const vm = this.vmInPlace(backup);
    await this.write({
      phase: vm ? RestorePhase.StoppingServer : RestorePhase.Restoring,
      startTime: formatTime(this.ctx.clock.now()),
      volumes: plan.volumes.map((v) => ({ name: v.name, pvc: v.claimName })),
      message: vm
        ? `stopping VirtualMachine ${backup.spec.server.name}`
        : `restoring ${plan.volumes.length} volume(s)`,
      conditions: this.conditions([
        {
          type: ConditionType.Progressing,
          status: 'True',
          reason: Reason.InProgress,
          message: 'restore started',
        },
      ]),
    });
    await this.ctx.events.normal(
      this.restore,
      'Started',
      `restoring Backup ${ref} (${plan.volumes.map((v) => v.name).join(', ')})`,
    );
  }

  /** Target PVCs that exist and were not created by this restore: a NewPVCs restore never writes them. */
  private async foreignTargets(claims: string[]): Promise<string[]> {
    const taken: string[] = [];
    for (const claim of claims) {
      const pvc = await this.client.tryGet(Kinds.PersistentVolumeClaim, this.ns, claim);
      if (pvc && !createdBy(pvc, this.restore)) taken.push(claim);
    }
    return taken;
  }

  private failTargetsExist(taken: string[]): Promise<ReconcileResult> {
    return this.fail(
      Reason.TargetExists,
      `PVC ${taken.join(', ')} already exist${taken.length > 1 ? '' : 's'} in namespace ${this.ns} and ${taken.length > 1 ? 'were' : 'was'} not created by this restore: a NewPVCs restore never writes into an existing PVC; choose another spec.target.pvcNamePrefix or delete ${taken.length > 1 ? 'them' : 'it'} first. Nothing was written`,
    );
  }

  /**
   * A NewPVCs restore that failed removes the PVCs it created: half-written copies must not look like
   * good ones. Returns what the message should add.
   */
  private async removeCreatedPVCs(): Promise<string> {
    if (inPlace(this.restore)) return '';
    const removed: string[] = [];
    for (const v of this.restore.status?.volumes ?? []) {
      const pvc = await this.client.tryGet(Kinds.PersistentVolumeClaim, this.ns, v.pvc);
      if (!pvc || !createdBy(pvc, this.restore)) continue;
      await this.client.delete(Kinds.PersistentVolumeClaim, this.ns, v.pvc, { ignoreNotFound: true });
      removed.push(v.pvc);
    }
    return removed.length ? `; removed the new PVC(s) ${removed.join(', ')} it had created` : '';
  }

  /**
   * The VM of an in-place restore, checked to be still held halted. When it was started (or its spec
   * changed) under the restore, halts it again, stops the Job and fails: the disks were in use while
   * written, or could have been.
   */
  private async heldVM(backup: Backup): Promise<{ failed: ReconcileResult } | { ok: true }> {
    if (!this.vmInPlace(backup)) return { ok: true };
    const vmName = backup.spec.server.name;
    const vm = await this.client.tryGet(VirtualMachineKind, this.ns, vmName);
    if (!vm)
      return {
        failed: await this.fail(
          Reason.ServerNotFound,
          `VirtualMachine ${vmName} disappeared during the restore`,
        ),
      };
    const vmi = await this.client.tryGet(VirtualMachineInstanceKind, this.ns, vmName);
    const why = haltDisturbed(vm, vmi);
    if (!why) return { ok: true };
    await this.client.delete(Kinds.Job, this.ns, restoreJobName(this.name), {
      propagationPolicy: 'Background',
      ignoreNotFound: true,
    });
    // Halted again, without our in-progress mark: the failure below says why it stays halted.
    await this.client.patch(VirtualMachineKind, this.ns, vmName, {
      ...leaveHaltedPatch(),
      spec: haltPatch(vm, this.name).spec,
    });
    const message = `VirtualMachine ${vmName} was started during the restore (${why}): its disks may have been in use while they were written, so they may be inconsistent. The restore Job was stopped and the VM halted again; restore again and keep the VM stopped until the restore completes`;
    return {
      failed: await this.fail(Reason.ServerStartedDuringRestore, message, [
        {
          type: ConditionType.ServerStopped,
          status: 'True',
          reason: Reason.ServerStartedDuringRestore,
          message: `VirtualMachine ${vmName} halted again because it was started during the restore: its disks may be partly restored; restore again before starting it`,
        },
      ]),
    };
  }

  private async wait(reason: string, message: string): Promise<ReconcileResult> {
    await this.write({
      phase: RestorePhase.Pending,
      message,
      conditions: this.conditions([{ type: ConditionType.Progressing, status: 'False', reason, message }]),
    });
    return this.poll;
  }

  async stopping(): Promise<ReconcileResult | void> {
    const backup = await this.backup();
    if (!backup)
      return this.fail(Reason.BackupNotFound, `Backup ${this.restore.spec.backupRef.name} disappeared`);
    const vmName = backup.spec.server.name;
    const vm = await this.client.tryGet(VirtualMachineKind, this.ns, vmName);
    if (!vm)
      return this.fail(Reason.ServerNotFound, `VirtualMachine ${vmName} disappeared during the restore`);
    if (
      vm.spec?.runStrategy !== 'Halted' ||
      vm.metadata?.annotations?.[ANNOTATION_RESTORE_IN_PROGRESS] !== this.name
    ) {
      await this.client.patch(VirtualMachineKind, this.ns, vmName, haltPatch(vm, this.name));
      await this.ctx.events.normal(
        this.restore,
        'StoppingServer',
        `halting VirtualMachine ${vmName} for an in-place restore`,
      );
      return this.poll;
    }
    const vmi = await this.client.tryGet(VirtualMachineInstanceKind, this.ns, vmName);
    if (vmi && !['Succeeded', 'Failed'].includes(vmi.status?.phase ?? '')) {
      const since = this.restore.status?.startTime
        ? new Date(this.restore.status.startTime).getTime()
        : this.ctx.clock.nowMs();
      if (this.ctx.clock.nowMs() - since > this.settings.vmStopTimeoutMs) {
        // Nothing was written yet: give the VM back its run strategy.
        await this.client.patch(VirtualMachineKind, this.ns, vmName, startPatch(vm));
        return this.fail(
          Reason.StopTimeout,
          `VirtualMachine ${vmName} did not stop within ${Math.round(this.settings.vmStopTimeoutMs / 1000)}s; nothing was restored and its run strategy was put back`,
        );
      }
      return this.poll;
    }
    // From here on the VM must stay as it is now: remember its generation to notice any change.
    await this.client.patch(VirtualMachineKind, this.ns, vmName, haltedGenerationPatch(vm));
    await this.write({
      phase: RestorePhase.Restoring,
      message: `VirtualMachine ${vmName} stopped; restoring`,
      conditions: this.conditions([
        {
          type: ConditionType.ServerStopped,
          status: 'True',
          reason: 'Halted',
          message: `VirtualMachine ${vmName} halted for the restore`,
        },
      ]),
    });
  }

  private jobPods(job: V1Job): Promise<V1Pod[]> {
    return jobPodsOf(this.ctx, job, restoreChildLabels(this.name));
  }

  async restoring(): Promise<ReconcileResult | void> {
    const backup = await this.backup();
    if (!backup)
      return this.fail(Reason.BackupNotFound, `Backup ${this.restore.spec.backupRef.name} disappeared`);
    const held = await this.heldVM(backup);
    if ('failed' in held) return held.failed;
    let job = await this.client.tryGet(Kinds.Job, this.ns, restoreJobName(this.name));
    if (!job) {
      const plan = plannedVolumes(this.restore, backup);
      if ('error' in plan) return this.fail(Reason.VolumeNotInBackup, plan.error);
      const repo = await this.client.tryGet(BackupRepositoryKind, this.ns, backup.spec.repositoryRef.name);
      if (!repo)
        return this.fail(
          Reason.RepositoryNotFound,
          `BackupRepository ${backup.spec.repositoryRef.name} not found: the backup's data cannot be read`,
        );
      if (!inPlace(this.restore)) {
        for (const v of plan.volumes) {
          try {
            await this.client.create(Kinds.PersistentVolumeClaim, newPVC(this.restore, v));
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
          }
        }
        // Someone may have created one of them since Pending: only our own PVCs are written.
        const taken = await this.foreignTargets(plan.volumes.map((v) => v.claimName));
        if (taken.length) {
          const removed = await this.removeCreatedPVCs();
          return this.fail(
            Reason.TargetExists,
            `PVC ${taken.join(', ')} appeared in namespace ${this.ns} before this restore could create ${taken.length > 1 ? 'them' : 'it'}: a NewPVCs restore never writes into a PVC it did not create; choose another spec.target.pvcNamePrefix. Nothing was written${removed}`,
          );
        }
      }
      try {
        job = await createMoverJob(
          this.client,
          restoreJob({
            restore: { name: this.name, namespace: this.ns },
            volumes: plan.volumes,
            onlyChanged: inPlace(this.restore),
            repo: repositoryAccess(repo),
            settings: this.settings.jobs,
          }),
        );
        await this.ctx.events.normal(
          this.restore,
          'RestoreStarted',
          `Job ${restoreJobName(this.name)} writing ${plan.volumes.length} volume(s)`,
        );
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      return this.poll;
    }
    const pods = await this.jobPods(job);
    const outcome = restoreOutcome(job, pods);
    if (outcome.state === 'running') {
      const stuck = podCannotStart(pods, this.ctx.clock.nowMs(), this.settings.podStartGraceMs);
      if (!stuck) {
        await this.write({ progress: await this.progress(job, pods) });
        return this.poll;
      }
      // Nothing was written: the mover never started. The Job goes, the server is let go.
      await this.client.delete(Kinds.Job, this.ns, restoreJobName(this.name), {
        propagationPolicy: 'Background',
        ignoreNotFound: true,
      });
      const message = `${stuck}. Gave up after ${Math.round(this.settings.podStartGraceMs / 1000)}s; nothing was written: fix that (e.g. create the missing Secret), then restore again`;
      const vm = this.vmInPlace(backup);
      if (vm)
        await this.client.patch(
          VirtualMachineKind,
          this.ns,
          backup.spec.server.name,
          startPatch(await this.client.get(VirtualMachineKind, this.ns, backup.spec.server.name)),
        );
      return this.fail(
        Reason.PodCannotStart,
        `${message}${vm ? `; VirtualMachine ${backup.spec.server.name} got its run strategy back` : ''}${await this.removeCreatedPVCs()}`,
      );
    }
    const vm = this.vmInPlace(backup);
    if (outcome.state === 'failed') {
      await this.write({ volumes: outcome.volumes });
      if (vm) {
        await this.client.patch(VirtualMachineKind, this.ns, backup.spec.server.name, leaveHaltedPatch());
        return this.fail(
          outcome.reason,
          `${outcome.message}. VirtualMachine ${backup.spec.server.name} was left stopped`,
          [
            {
              type: ConditionType.ServerStopped,
              status: 'True',
              reason: outcome.reason,
              message: `VirtualMachine ${backup.spec.server.name} left stopped because the restore failed: its disks may be partly restored; restore again (from this or another backup) before starting it`,
            },
          ],
        );
      }
      return this.fail(outcome.reason, `${outcome.message}${await this.removeCreatedPVCs()}`);
    }
    const bytes = outcome.volumes.reduce((n, v) => n + (v.restoredBytes ?? 0), 0);
    const powerOn = this.restore.spec.powerOnAfterRestore ?? true;
    await this.write({
      phase: vm && powerOn ? RestorePhase.StartingServer : RestorePhase.Completed,
      volumes: outcome.volumes,
      // The data is all written: the last progress read from the mover's log may be from before the end.
      progress: { ...(this.restore.status?.progress ?? {}), percent: 100 },
      message: `${outcome.volumes.length} volume(s) restored, ${bytes} bytes written`,
      ...(vm && powerOn ? {} : { completionTime: formatTime(this.ctx.clock.now()) }),
      conditions: this.conditions([
        {
          type: ConditionType.Restored,
          status: 'True',
          reason: Reason.Succeeded,
          message: `${bytes} bytes written`,
        },
        ...(vm && powerOn
          ? []
          : [
              {
                type: ConditionType.Progressing,
                status: 'False' as const,
                reason: Reason.Succeeded,
                message: 'the restore ended',
              },
            ]),
      ]),
    });
    if (vm && !powerOn)
      await this.client.patch(VirtualMachineKind, this.ns, backup.spec.server.name, leaveHaltedPatch());
    if (!(vm && powerOn)) this.observeEnd('Completed');
    await this.ctx.events.normal(
      this.restore,
      Reason.Succeeded,
      `${outcome.volumes.length} volume(s) restored, ${bytes} bytes written`,
    );
    return { requeueAfterMs: 0 };
  }

  private async progress(job: V1Job, pods: V1Pod[]) {
    const pod = pods.filter((p) => p.status?.phase === 'Running').pop();
    if (!pod) return combinedProgress([]);
    const parts = [];
    for (const c of job.spec?.template.spec?.containers ?? []) {
      try {
        parts.push(
          lastProgress(
            await this.client.podLogs(this.ns, pod.metadata?.name ?? '', {
              container: c.name,
              tailLines: 20,
            }),
          ),
        );
      } catch {
        parts.push(undefined);
      }
    }
    return combinedProgress(parts);
  }

  async starting(): Promise<ReconcileResult | void> {
    const backup = await this.backup();
    const vmName = backup?.spec.server.name ?? '';
    const vm = backup ? await this.client.tryGet(VirtualMachineKind, this.ns, vmName) : undefined;
    if (backup && vm && vm.metadata?.annotations?.[ANNOTATION_RESTORE_IN_PROGRESS] === this.name) {
      // Re-checked right before power-on (not after it: a retried reconcile finds the VM started by us,
      // without our mark): a start between the last poll and the Job's end shows here.
      const held = await this.heldVM(backup);
      if ('failed' in held) return held.failed;
      await this.client.patch(VirtualMachineKind, this.ns, vmName, startPatch(vm));
      await this.ctx.events.normal(this.restore, 'StartingServer', `starting VirtualMachine ${vmName}`);
    }
    await this.write({
      phase: RestorePhase.Completed,
      completionTime: formatTime(this.ctx.clock.now()),
      conditions: this.conditions([
        {
          type: ConditionType.ServerStopped,
          status: 'False',
          reason: 'Started',
          message: `VirtualMachine ${vmName} started again`,
        },
        {
          type: ConditionType.Progressing,
          status: 'False',
          reason: Reason.Succeeded,
          message: 'the restore ended',
        },
      ]),
    });
    this.observeEnd('Completed');
    return { requeueAfterMs: 0 };
  }

  /** Completed or Failed: the Job goes, the server is released. */
  async settle(): Promise<void> {
    await this.client.delete(Kinds.Job, this.ns, restoreJobName(this.name), {
      propagationPolicy: 'Background',
      ignoreNotFound: true,
    });
    const backup = await this.backup();
    if (backup) await releaseServerLock(this.client, this.ns, backup.spec.server, this.holder);
  }

  /** Deleting: stop our Job, leave a halted VM halted (with the mark dropped), release the server. */
  async finalize(): Promise<void> {
    if (!hasFinalizer(this.restore, FINALIZER_RESTORE_CLEANUP)) return;
    const backup = await this.backup();
    await this.client.delete(Kinds.Job, this.ns, restoreJobName(this.name), {
      propagationPolicy: 'Background',
      ignoreNotFound: true,
    });
    if (backup && this.vmInPlace(backup)) {
      const vm = await this.client.tryGet(VirtualMachineKind, this.ns, backup.spec.server.name);
      const untouched =
        !getCondition(this.restore.status?.conditions, ConditionType.Restored) &&
        this.restore.status?.phase === RestorePhase.StoppingServer;
      if (vm?.metadata?.annotations?.[ANNOTATION_RESTORE_IN_PROGRESS] === this.name)
        await this.client.patch(
          VirtualMachineKind,
          this.ns,
          backup.spec.server.name,
          untouched ? startPatch(vm) : leaveHaltedPatch(),
        );
    }
    // Copies of a restore that never completed are half-written: they go with it.
    if (this.restore.status?.phase !== RestorePhase.Completed) await this.removeCreatedPVCs();
    if (backup) await releaseServerLock(this.client, this.ns, backup.spec.server, this.holder);
    await removeFinalizer(this.client, RestoreKind, this.restore, FINALIZER_RESTORE_CLEANUP);
  }
}
