/**
 * The BackupRepository controller: a Job runs `csbs mover init --if-missing` and `stats` for each
 * generation of the spec; success makes the repository Ready (with storedBytes), failure makes it Failed
 * with what the mover said (wrong key, unreachable storage) and it is retried after a pause. While
 * Ready, `csbs mover gc` runs on the repository's cron schedule, one Job per scheduled slot.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { ConditionType, Reason, RepositoryPhase } from '../../api/conditions.js';
import { DEFAULT_KEY_SECRET_KEY, DEFAULT_VERIFY_SCHEDULE } from '../../api/defaults.js';
import { FINALIZER_REPOSITORY_IN_USE, LABEL_REPOSITORY, LABEL_REPOSITORY_JOB } from '../../api/labels.js';
import type { BackupRepository, BackupRepositoryStatus } from '../../api/types.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../runtime/finalizers.js';
import { formatTime, setConditions, type ConditionInput } from '../../runtime/conditions.js';
import { deepEqual } from '../../runtime/equality.js';
import { isAlreadyExists } from '../../runtime/errors.js';
import { Kinds } from '../../runtime/kinds.js';
import {
  mapByLabel,
  watch,
  type ObjectKey,
  type ReconcileContext,
  type Reconciler,
  type ReconcileResult,
} from '../../runtime/reconciler.js';
import { createMoverJob, jobPodsOf, jobState, listChildren } from '../shared/jobs.js';
import { BackupKind, BackupRepositoryKind } from '../shared/kinds.js';
import { labelValue } from '../shared/names.js';
import { repositoryAccess } from '../shared/repository.js';
import type { ControllerSettings } from '../shared/settings.js';
import { MANAGED_SELECTOR } from '../shared/mover.js';
import {
  checkJob,
  checkJobName,
  cronSlots,
  gcJob,
  gcJobName,
  gcSlots,
  liveManifests,
  repositoryJobLabels,
  verifyJob,
  verifyJobName,
} from './desired.js';
import { humanBytes } from '../../api/quantity.js';
import { maintenanceFailure, measured, storedBytesOf, storedSince, verifyResult } from './status.js';

/** Ready reason while a deleted repository waits for the Backups that still use it. */
const REPOSITORY_IN_USE = 'RepositoryInUse';

/** The BackupRepository reconciler. */
export class BackupRepositoryReconciler implements Reconciler {
  readonly name = 'backuprepository';
  readonly for = Kinds.BackupRepository;
  readonly watches = [
    { kind: Kinds.Job, map: mapByLabel(LABEL_REPOSITORY_JOB), selector: MANAGED_SELECTOR },
    // A Backup's changes refresh its repository's backupCount, and let a deleted repository go.
    watch(BackupKind, (b) => [
      { namespace: b.metadata?.namespace ?? '', name: b.spec?.repositoryRef?.name ?? '' },
    ]),
  ];

  constructor(private readonly settings: ControllerSettings) {}

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const repo = await ctx.client.tryGet(BackupRepositoryKind, key.namespace, key.name);
    if (!repo) return;
    if (repo.metadata.deletionTimestamp) return this.finalize(repo, ctx);
    if (!hasFinalizer(repo, FINALIZER_REPOSITORY_IN_USE)) {
      await addFinalizer(ctx.client, BackupRepositoryKind, repo, FINALIZER_REPOSITORY_IN_USE);
      return;
    }
    const ns = key.namespace;
    const gen = repo.metadata.generation ?? 1;
    const now = ctx.clock.now();
    const write = async (
      status: BackupRepositoryStatus,
      conds: Omit<ConditionInput, 'observedGeneration'>[] = [],
    ) => {
      const full: BackupRepositoryStatus = {
        ...status,
        observedGeneration: gen,
        conditions: setConditions(
          repo.status?.conditions,
          conds.map((c) => ({ ...c, observedGeneration: gen })),
          now,
        ),
      };
      if (deepEqual({ ...(repo.status ?? {}), ...full }, repo.status ?? {})) return;
      await ctx.client.patchStatus(BackupRepositoryKind, ns, key.name, full, {
        resourceVersion: repo.metadata.resourceVersion ?? '',
      });
    };
    const fail = async (reason: string, message: string, retry = true) => {
      if (repo.status?.phase !== RepositoryPhase.Failed || repo.status.message !== message)
        await ctx.events.warning(repo, reason, message);
      await write({ phase: RepositoryPhase.Failed, message }, [
        { type: ConditionType.Ready, status: 'False', reason, message },
      ]);
      return retry ? { requeueAfterMs: this.settings.repositoryRetryMs } : undefined;
    };

    // Things a pod would silently wait for forever are checked here, with a message saying what to fix.
    const secretRef = repo.spec.encryption.keySecretRef;
    const secretKey = secretRef.key ?? DEFAULT_KEY_SECRET_KEY;
    const secret = await ctx.client.tryGet(Kinds.Secret, ns, secretRef.name);
    if (!secret || !(secret.data?.[secretKey] || secret.stringData?.[secretKey]))
      return fail(
        Reason.SecretNotFound,
        secret
          ? `Secret ${secretRef.name} has no key ${secretKey}: add the repository key under it or fix spec.encryption.keySecretRef.key`
          : `Secret ${secretRef.name} not found in namespace ${ns}: create it with the repository key under ${secretKey}`,
      );
    const fs = repo.spec.backend.filesystem;
    if (fs && !(await ctx.client.tryGet(Kinds.PersistentVolumeClaim, ns, fs.persistentVolumeClaim.claimName)))
      return fail(
        Reason.RepositoryUnreachable,
        `PVC ${fs.persistentVolumeClaim.claimName} not found in namespace ${ns}: create it or fix spec.backend.filesystem.persistentVolumeClaim`,
      );
    const access = repositoryAccess(repo);
    const pods = (job: V1Job): Promise<V1Pod[]> => jobPodsOf(ctx, job, repositoryJobLabels(key.name));
    const backupCount = async () =>
      ctx.cache.list(BackupKind, { namespace: ns, labels: { [LABEL_REPOSITORY]: labelValue(key.name) } })
        .length;
    const stored = async (job: V1Job): Promise<number | undefined> => {
      for (const pod of await pods(job))
        for (const cs of pod.status?.containerStatuses ?? []) {
          const v = storedBytesOf(cs.state?.terminated?.message);
          if (v !== undefined) return v;
        }
      return undefined;
    };
    // 1. The check for this generation (init if missing + stats).
    const ready = repo.status?.phase === RepositoryPhase.Ready && repo.status.observedGeneration === gen;
    if (!ready) {
      const name = checkJobName(key.name, gen);
      let job = await ctx.client.tryGet(Kinds.Job, ns, name);
      if (!job) {
        try {
          job = await createMoverJob(ctx.client, checkJob(repo, access, this.settings.jobs));
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          return { requeueAfterMs: this.settings.pollMs };
        }
        await write(
          {
            phase:
              repo.status?.phase === RepositoryPhase.Failed
                ? RepositoryPhase.Failed
                : RepositoryPhase.Pending,
          },
          [
            {
              type: ConditionType.Ready,
              status: 'Unknown',
              reason: Reason.InProgress,
              message: `Job ${name} is initializing and checking the repository`,
            },
          ],
        );
        return { requeueAfterMs: this.settings.pollMs };
      }
      const st = jobState(job);
      if (st.state === 'running') return { requeueAfterMs: this.settings.pollMs };
      if (st.state === 'failed') {
        const why = maintenanceFailure(await pods(job)) ?? `Job ${name} failed: ${st.reason} ${st.message}`;
        const reason = /exited 3\b/.test(why) ? Reason.WrongKey : Reason.RepositoryUnreachable;
        // Retry after a pause: the Secret or the storage may be fixed meanwhile.
        const finished =
          job.status?.completionTime ??
          job.status?.conditions?.find((c) => c.type === 'Failed')?.lastTransitionTime;
        const age = finished ? now.getTime() - new Date(finished as unknown as string).getTime() : Infinity;
        if (age >= this.settings.repositoryRetryMs)
          await ctx.client.delete(Kinds.Job, ns, name, {
            propagationPolicy: 'Background',
            ignoreNotFound: true,
          });
        return fail(reason, `repository check failed: ${why}`);
      }
      const storedBytes = await stored(job);
      await write(
        {
          phase: RepositoryPhase.Ready,
          message: `repository ready at ${access.filesystem ? `PVC ${access.filesystem.claimName}` : `s3://${access.s3?.bucket}`}`,
          lastCheckTime: formatTime(now),
          backupCount: await backupCount(),
          ...(storedBytes !== undefined ? measured(storedBytes) : {}),
        },
        [
          {
            type: ConditionType.Ready,
            status: 'True',
            reason: Reason.RepositoryInitialized,
            message: 'initialized and reachable with the given key',
          },
        ],
      );
      if (repo.status?.phase !== RepositoryPhase.Ready)
        await ctx.events.normal(repo, 'Ready', 'repository initialized and reachable');
      await ctx.client.delete(Kinds.Job, ns, name, { propagationPolicy: 'Background', ignoreNotFound: true });
      return { requeueAfterMs: 0 };
    }

    // Counted from the cache on every Backup change: cheap, and never stale until the next gc. What
    // the repository holds grows by what each backup uploaded since it was last measured; deleting a
    // backup frees nothing until gc, which measures again.
    const count = await backupCount();
    const grown = storedSince(repo, ctx.cache.list(BackupKind, { namespace: ns }));
    if (repo.status?.backupCount !== count || (grown !== undefined && grown !== repo.status?.storedBytes))
      await write({
        backupCount: count,
        ...(grown !== undefined ? { storedBytes: grown, stored: humanBytes(grown) } : {}),
      });

    const created = new Date((repo.metadata.creationTimestamp as unknown as string) ?? now.toISOString());
    // Cached: a maintenance Job not seen yet is deleted on the reconcile its own event brings.
    const jobs = await listChildren(ctx, Kinds.Job, ns, repositoryJobLabels(key.name), false);

    // 2. The integrity check on schedule: a sample of the data read back, damage recorded for repair.
    const checked = cronSlots(repo.spec.maintenance?.verifySchedule || DEFAULT_VERIFY_SCHEDULE, now);
    const verifyName = verifyJobName(key.name, checked.last);
    for (const old of jobs) {
      const n = old.metadata?.name ?? '';
      if (n.startsWith(verifyJobName(key.name, new Date(0)).slice(0, -12)) && n !== verifyName)
        await ctx.client.delete(Kinds.Job, ns, n, { propagationPolicy: 'Background', ignoreNotFound: true });
    }
    const lastVerify = repo.status?.lastVerifyTime ? new Date(repo.status.lastVerifyTime) : undefined;
    if (checked.last > created && (!lastVerify || lastVerify < checked.last)) {
      const job = jobs.find((j) => j.metadata?.name === verifyName);
      if (!job) {
        try {
          await createMoverJob(ctx.client, verifyJob(repo, access, this.settings.jobs, checked.last));
          await ctx.events.normal(repo, 'Verifying', `integrity check Job ${verifyName} started`);
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
        return { requeueAfterMs: this.settings.pollMs };
      }
      const st = jobState(job);
      if (st.state === 'running') return { requeueAfterMs: this.settings.pollMs };
      const result = verifyResult(await pods(job), st.state === 'complete');
      const untilNextCheck = Math.min(Math.max(checked.next.getTime() - now.getTime(), 1000), 3600_000);
      if (result.state === 'error') {
        if (repo.status?.message !== `integrity check failed: ${result.message}`)
          await ctx.events.warning(repo, 'VerifyFailed', result.message);
        // The failed Job stays until the next slot, so this slot is not retried in a loop.
        await write({ message: `integrity check failed: ${result.message}` });
        return { requeueAfterMs: untilNextCheck };
      }
      const damaged = result.state === 'damaged' ? result.manifests : [];
      const message =
        result.state === 'damaged'
          ? `the check of ${formatTime(checked.last)} found damaged data in ${damaged.length} manifest(s): ${result.message}. The next backup of each affected server writes the damaged blocks again`
          : `the check of ${formatTime(checked.last)} read back a sample of the data: no damage found`;
      await write(
        {
          lastVerifyTime: formatTime(checked.last),
          damagedManifests: damaged.slice(0, 1000),
          message: result.state === 'damaged' ? message : 'repository ready; integrity check passed',
        },
        [
          {
            type: ConditionType.DataIntact,
            status: result.state === 'damaged' ? 'False' : 'True',
            reason: result.state === 'damaged' ? Reason.CorruptData : Reason.Succeeded,
            message,
          },
        ],
      );
      if (result.state === 'damaged') await ctx.events.warning(repo, Reason.CorruptData, message);
      else await ctx.events.normal(repo, 'Verified', message);
      await ctx.client.delete(Kinds.Job, ns, verifyName, {
        propagationPolicy: 'Background',
        ignoreNotFound: true,
      });
      return { requeueAfterMs: 0 };
    }

    // 3. Garbage collection on schedule (never for a slot before the repository existed).
    const { last, next } = gcSlots(repo.spec.maintenance?.gcSchedule, now);
    const lastGC = repo.status?.lastGCTime ? new Date(repo.status.lastGCTime) : undefined;
    const due = last > created && (!lastGC || lastGC < last);
    const gcName = gcJobName(key.name, last);
    for (const old of jobs) {
      const n = old.metadata?.name ?? '';
      if (n.startsWith(`${gcJobName(key.name, new Date(0)).slice(0, -12)}`) && n !== gcName)
        await ctx.client.delete(Kinds.Job, ns, n, { propagationPolicy: 'Background', ignoreNotFound: true });
    }
    // Woken for whichever maintenance slot comes first.
    const soonest = Math.min(next.getTime(), checked.next.getTime());
    const untilNext = Math.min(Math.max(soonest - now.getTime(), 1000), 3600_000);
    if (!due) return { requeueAfterMs: untilNext };
    let job = jobs.find((j) => j.metadata?.name === gcName);
    if (!job) {
      // Every manifest any Backup references, from the cache: a Backup the cache has not seen yet is
      // younger than the orphan grace, so its manifests are safe anyway.
      const live = liveManifests(
        repo,
        ctx.cache.list(BackupKind).flatMap((b) => (b.status?.volumes ?? []).map((v) => v.manifestID ?? '')),
      );
      if (live) {
        const liveName = live.metadata?.name ?? '';
        if (await ctx.client.tryGet(Kinds.ConfigMap, ns, liveName))
          await ctx.client.patch(Kinds.ConfigMap, ns, liveName, { data: live.data });
        else await ctx.client.create(Kinds.ConfigMap, live);
      }
      try {
        job = await createMoverJob(ctx.client, gcJob(repo, access, this.settings.jobs, last, live));
        await ctx.events.normal(repo, 'GarbageCollecting', `gc Job ${gcName} started`);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      return { requeueAfterMs: this.settings.pollMs };
    }
    const st = jobState(job);
    if (st.state === 'running') return { requeueAfterMs: this.settings.pollMs };
    if (st.state === 'failed') {
      const why = maintenanceFailure(await pods(job)) ?? `${st.reason} ${st.message}`;
      if (repo.status?.message !== `gc failed: ${why}`)
        await ctx.events.warning(repo, 'GarbageCollectionFailed', why);
      await write({ message: `gc failed: ${why}` });
      // The failed Job stays until the next slot, so this slot is not retried in a loop.
      return { requeueAfterMs: untilNext };
    }
    const storedBytes = await stored(job);
    await write({
      lastGCTime: formatTime(last),
      lastCheckTime: formatTime(now),
      backupCount: await backupCount(),
      message: 'repository ready; garbage collected',
      ...(storedBytes !== undefined ? measured(storedBytes) : {}),
    });
    await ctx.events.normal(repo, 'GarbageCollected', `gc of slot ${formatTime(last)} done`);
    await ctx.client.delete(Kinds.Job, ns, gcName, { propagationPolicy: 'Background', ignoreNotFound: true });
    return { requeueAfterMs: untilNext };
  }

  /**
   * Deleting: the repository stays while any Backup stores data in it (status names them), so backups
   * are never stranded without the storage that holds them. Its maintenance Jobs go with it (owner
   * references).
   */
  private async finalize(repo: BackupRepository, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    if (!hasFinalizer(repo, FINALIZER_REPOSITORY_IN_USE)) return;
    const ns = repo.metadata.namespace ?? '';
    const name = repo.metadata.name ?? '';
    // From the API: letting the repository go on a stale cache could strand a backup.
    const users = (await ctx.client.list(BackupKind, ns)).items
      .filter((b) => b.spec.repositoryRef.name === name)
      .map((b) => b.metadata.name ?? '')
      .sort();
    if (users.length) {
      const shown =
        users.slice(0, 10).join(', ') + (users.length > 10 ? `, and ${users.length - 10} more` : '');
      const message = `deletion waits: ${users.length} Backup(s) store data in this repository (${shown}); delete them first, and their data is removed with them`;
      if (repo.status?.message !== message) {
        const gen = repo.metadata.generation ?? 1;
        await ctx.client.patchStatus(
          BackupRepositoryKind,
          ns,
          name,
          {
            message,
            backupCount: users.length,
            conditions: setConditions(
              repo.status?.conditions,
              [
                {
                  type: ConditionType.Ready,
                  status: 'False',
                  reason: REPOSITORY_IN_USE,
                  message,
                  observedGeneration: gen,
                },
              ],
              ctx.clock.now(),
            ),
          },
          { resourceVersion: repo.metadata.resourceVersion ?? '' },
        );
        await ctx.events.warning(repo, REPOSITORY_IN_USE, message);
      }
      return { requeueAfterMs: this.settings.pollMs * 5 };
    }
    await removeFinalizer(ctx.client, BackupRepositoryKind, repo, FINALIZER_REPOSITORY_IN_USE);
  }
}
