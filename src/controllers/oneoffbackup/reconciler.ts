/**
 * The OneOffBackup controller: resolves the servers a request names (one, a list, or a label selector
 * over VirtualMachines and PVC groups) and the repository, creates exactly one Backup per server, then
 * mirrors their phases into its status. Invalid requests end Failed with `Valid=False` saying what to
 * fix, and no Backup is made.
 */
import { ConditionType, OneOffBackupPhase, Reason } from '../../api/conditions.js';
import { ServerKind } from '../../api/constants.js';
import { LABEL_ONE_OFF_BACKUP, LABEL_SERVER } from '../../api/labels.js';
import { serverKey } from '../../api/servers.js';
import type { OneOffBackup, OneOffBackupResult, OneOffBackupStatus, ServerRef } from '../../api/types.js';
import type { KubeClient } from '../../runtime/client.js';
import { formatTime, isConditionTrue, setConditions, type ConditionInput } from '../../runtime/conditions.js';
import { deepEqual } from '../../runtime/equality.js';
import { isAlreadyExists } from '../../runtime/errors.js';
import { Kinds } from '../../runtime/kinds.js';
import {
  mapByLabel,
  type ObjectKey,
  type ReconcileContext,
  type Reconciler,
  type ReconcileResult,
} from '../../runtime/reconciler.js';
import { BackupKind, BackupRepositoryKind, OneOffBackupKind, VirtualMachineKind } from '../shared/kinds.js';
import { labelValue } from '../shared/names.js';
import { selectorString } from '../shared/selector.js';
import type { ControllerSettings } from '../shared/settings.js';
import { backupObjectNameFor, baseName, desiredBackup, displayNames, madeBy } from './desired.js';
import { overallPhase, summary } from './status.js';

type Problem = { reason: string; message: string };

/** True once every planned Backup was created (so a deleted one is not made again). */
const CONDITION_BACKUPS_CREATED = 'BackupsCreated';

/** The OneOffBackup reconciler. */
export class OneOffBackupReconciler implements Reconciler {
  readonly name = 'oneoffbackup';
  readonly for = Kinds.OneOffBackup;
  readonly watches = [{ kind: Kinds.Backup, map: mapByLabel(LABEL_ONE_OFF_BACKUP) }];

  constructor(private readonly settings: ControllerSettings) {}

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const oob = await ctx.client.tryGet(OneOffBackupKind, key.namespace, key.name);
    if (!oob || oob.metadata.deletionTimestamp) return;
    const ns = key.namespace;
    // Backups from the cache: one not seen yet is found by its create answering AlreadyExists.
    const ours = ctx.cache
      .list(BackupKind, { namespace: ns, labels: { [LABEL_ONE_OFF_BACKUP]: labelValue(key.name) } })
      .filter((b) => madeBy(b, oob));

    // The plan (servers and names) is written to status before any Backup is created, so a restarted
    // controller follows the same plan even if a selector now matches other servers.
    let plan = oob.status?.backups ?? [];
    let repository = ours[0]?.spec.repositoryRef.name ?? oob.spec.repositoryRef?.name;
    if (!plan.length) {
      const problem = await this.admit(ctx.client, oob);
      if (problem) return this.reject(ctx, oob, problem);
      const servers = await this.resolveServers(ctx.client, oob);
      if ('reason' in servers) return this.reject(ctx, oob, servers);
      const repo = repository ?? (await this.defaultRepository(ctx.client, ns));
      if (typeof repo !== 'string') return this.reject(ctx, oob, repo);
      const names = displayNames(baseName(oob), servers);
      plan = servers.map((server, i) => ({
        server,
        backupName: names[i],
        name: backupObjectNameFor(oob, server, names[i]),
      }));
      await this.write(ctx, oob, {
        phase: OneOffBackupPhase.InProgress,
        backups: plan,
        startTime: formatTime(ctx.clock.now()),
        message: `creating ${plan.length} Backup(s) in BackupRepository ${repo}`,
      });
      return { requeueAfterMs: 0 };
    }
    if (!repository) {
      const repo = await this.defaultRepository(ctx.client, ns);
      if (typeof repo !== 'string') return this.reject(ctx, oob, repo);
      repository = repo;
    }
    const results: OneOffBackupResult[] = [];
    const deleted: OneOffBackupResult[] = [];
    let created = 0;
    // Once every Backup was created, a missing one was deleted by someone: never make it again.
    const allCreated = isConditionTrue(oob.status?.conditions, CONDITION_BACKUPS_CREATED);
    for (const item of plan) {
      let backup = ours.find((b) => serverKey(b.spec.server) === serverKey(item.server));
      if (!backup && allCreated) {
        // Deleted by someone since: listed, but its last phase is no longer true.
        deleted.push({ server: item.server, backupName: item.backupName, name: item.name });
        continue;
      }
      if (!backup) {
        const want = desiredBackup(oob, item.server, item.backupName, repository);
        try {
          backup = await ctx.client.create(BackupKind, want);
          created++;
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          const existing = await ctx.client.get(BackupKind, ns, item.name);
          if (!madeBy(existing, oob))
            return this.reject(ctx, oob, {
              reason: Reason.InvalidSpec,
              message: `Backup ${item.name} was created by someone else meanwhile: delete this OneOffBackup and apply it again`,
            });
          backup = existing;
        }
      }
      results.push({
        server: item.server,
        backupName: backup.spec.backupName,
        name: backup.metadata.name ?? '',
        ...(backup.status?.phase ? { phase: backup.status.phase } : {}),
      });
    }
    if (created)
      await ctx.events.normal(
        oob,
        'BackupsCreated',
        `created ${created} Backup(s): ${results.map((r) => r.backupName).join(', ')}`,
      );

    const byName = new Map(ours.map((b) => [b.metadata.name ?? '', b]));
    const failures = new Map<string, string>();
    for (const r of results) {
      const b = byName.get(r.name);
      if (b?.status?.message) failures.set(r.name, b.status.message);
    }
    // The request summarises the Backups that still exist.
    const phase = results.length ? overallPhase(results) : OneOffBackupPhase.Completed;
    const finished = phase !== OneOffBackupPhase.InProgress && phase !== OneOffBackupPhase.Pending;
    const message = [
      ...(results.length ? [summary(results, failures)] : []),
      ...(deleted.length
        ? [`${deleted.length} backup(s) deleted since: ${deleted.map((d) => d.backupName).join(', ')}`]
        : []),
    ].join('; ');
    const conds: Omit<ConditionInput, 'observedGeneration'>[] = [
      {
        type: CONDITION_BACKUPS_CREATED,
        status: 'True',
        reason: Reason.Succeeded,
        message: `created ${results.length + deleted.length} Backup(s); deleting one later does not re-create it`,
      },
      {
        type: ConditionType.Valid,
        status: 'True',
        reason: 'Accepted',
        message: `${results.length + deleted.length} server(s), repository ${repository}`,
      },
      finished
        ? {
            type: ConditionType.Progressing,
            status: 'False',
            reason: phase === OneOffBackupPhase.Completed ? Reason.Succeeded : Reason.Failed,
            message,
          }
        : { type: ConditionType.Progressing, status: 'True', reason: Reason.InProgress, message },
      phase === OneOffBackupPhase.Failed || phase === OneOffBackupPhase.PartiallyFailed
        ? { type: ConditionType.Failed, status: 'True', reason: Reason.Failed, message }
        : {
            type: ConditionType.Failed,
            status: 'False',
            reason: finished ? Reason.Succeeded : Reason.InProgress,
            message: 'no backup failed',
          },
    ];
    const now = ctx.clock.now();
    const status: OneOffBackupStatus = {
      phase,
      backups: [...results, ...deleted],
      message,
      startTime: oob.status?.startTime ?? formatTime(now),
      ...(finished ? { completionTime: oob.status?.completionTime ?? formatTime(now) } : {}),
      conditions: this.conditions(oob, conds, now),
    };
    await this.write(ctx, oob, status);
    if (finished && oob.status?.phase !== phase) {
      if (phase === OneOffBackupPhase.Completed) await ctx.events.normal(oob, 'Completed', message);
      else await ctx.events.warning(oob, phase, message);
    }
    // Backup changes arrive through the watch; the poll is a safety net for missed events.
    return finished ? undefined : { requeueAfterMs: this.settings.pollMs * 5 };
  }

  private conditions(oob: OneOffBackup, inputs: Omit<ConditionInput, 'observedGeneration'>[], now: Date) {
    const gen = oob.metadata.generation;
    return setConditions(
      oob.status?.conditions,
      inputs.map((c) => ({ ...c, ...(gen !== undefined ? { observedGeneration: gen } : {}) })),
      now,
    );
  }

  private async write(ctx: ReconcileContext, oob: OneOffBackup, status: OneOffBackupStatus): Promise<void> {
    const full = { ...status, observedGeneration: oob.metadata.generation };
    if (deepEqual({ ...(oob.status ?? {}), ...full }, oob.status ?? {})) return;
    await ctx.client.patchStatus(OneOffBackupKind, oob.metadata.namespace, oob.metadata.name ?? '', full, {
      resourceVersion: oob.metadata.resourceVersion ?? '',
    });
  }

  private async reject(ctx: ReconcileContext, oob: OneOffBackup, p: Problem): Promise<void> {
    const now = ctx.clock.now();
    await this.write(ctx, oob, {
      phase: OneOffBackupPhase.Failed,
      message: p.message,
      completionTime: oob.status?.completionTime ?? formatTime(now),
      conditions: this.conditions(
        oob,
        [
          { type: ConditionType.Valid, status: 'False', reason: p.reason, message: p.message },
          {
            type: ConditionType.Progressing,
            status: 'False',
            reason: p.reason,
            message: 'no backup was made',
          },
          { type: ConditionType.Failed, status: 'True', reason: p.reason, message: p.message },
        ],
        now,
      ),
    });
    if (oob.status?.phase !== OneOffBackupPhase.Failed) await ctx.events.warning(oob, p.reason, p.message);
  }

  /** Checks the repository before anything is created. */
  private async admit(client: KubeClient, oob: OneOffBackup): Promise<Problem | undefined> {
    const ns = oob.metadata.namespace ?? '';
    const ref = oob.spec.repositoryRef?.name;
    if (ref && !(await client.tryGet(BackupRepositoryKind, ns, ref)))
      return {
        reason: Reason.RepositoryNotFound,
        message: `BackupRepository ${ref} not found in namespace ${ns}: create it or fix spec.repositoryRef`,
      };
    return undefined;
  }

  /** The namespace's only repository, or a problem saying to set spec.repositoryRef. */
  private async defaultRepository(client: KubeClient, ns: string): Promise<string | Problem> {
    const repos = (await client.list(BackupRepositoryKind, ns)).items;
    if (repos.length === 1) return repos[0].metadata.name ?? '';
    if (repos.length === 0)
      return {
        reason: Reason.RepositoryNotFound,
        message: `no BackupRepository in namespace ${ns}: create one or set spec.repositoryRef`,
      };
    return {
      reason: Reason.InvalidSpec,
      message: `namespace ${ns} has ${repos.length} BackupRepositories (${repos.map((r) => r.metadata.name).join(', ')}): set spec.repositoryRef`,
    };
  }

  /** The servers a request names, checked to exist. */
  private async resolveServers(client: KubeClient, oob: OneOffBackup): Promise<ServerRef[] | Problem> {
    const ns = oob.metadata.namespace ?? '';
    const s = oob.spec;
    if (s.selector) {
      const sel = selectorString(s.selector);
      const vms = (await client.list(VirtualMachineKind, ns, { labelSelector: sel })).items;
      const pvcs = (
        await client.list(Kinds.PersistentVolumeClaim, ns, {
          labelSelector: sel ? `${sel},${LABEL_SERVER}` : LABEL_SERVER,
        })
      ).items;
      const groups = [
        ...new Set(pvcs.map((p) => p.metadata?.labels?.[LABEL_SERVER] ?? '').filter(Boolean)),
      ].sort();
      const servers: ServerRef[] = [
        ...vms
          .map((v) => ({ kind: ServerKind.VirtualMachine, name: v.metadata?.name ?? '' }))
          .sort((a, b) => a.name.localeCompare(b.name)),
        ...groups.map((name) => ({ kind: ServerKind.PVCGroup, name })),
      ];
      if (!servers.length)
        return {
          reason: Reason.ServerNotFound,
          message: `spec.selector (${sel || 'everything'}) matches no VirtualMachine and no PVC labelled ${LABEL_SERVER} in namespace ${ns}: fix the selector or label the servers`,
        };
      return servers;
    }
    const refs = s.server ? [s.server] : (s.servers ?? []);
    if (!refs.length)
      return {
        reason: Reason.InvalidSpec,
        message: 'set exactly one of spec.server, spec.servers or spec.selector',
      };
    const missing: string[] = [];
    for (const ref of refs) {
      if (ref.kind === ServerKind.VirtualMachine) {
        if (!(await client.tryGet(VirtualMachineKind, ns, ref.name)))
          missing.push(`VirtualMachine ${ref.name}`);
      } else {
        const pvcs = await client.list(Kinds.PersistentVolumeClaim, ns, {
          labelSelector: `${LABEL_SERVER}=${ref.name}`,
        });
        if (!pvcs.items.length)
          missing.push(`PVCGroup ${ref.name} (no PVC labelled ${LABEL_SERVER}=${ref.name})`);
      }
    }
    if (missing.length)
      return {
        reason: Reason.ServerNotFound,
        message: `${missing.join(', ')} not found in namespace ${ns}: create ${missing.length > 1 ? 'them' : 'it'} or fix spec.${s.server ? 'server' : 'servers'}`,
      };
    return refs;
  }
}
