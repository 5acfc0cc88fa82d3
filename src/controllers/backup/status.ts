/**
 * Pure status computations of a Backup: what the upload Job's pods say (per-volume results, or the
 * failure to report with its volume, step and mover message), progress from the mover's log lines,
 * totals, and the serialisation check that keeps one backup or restore per server at a time.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { BackupPhase, BackupType, type Reason } from '../../api/conditions.js';
import { humanBytes } from '../../api/quantity.js';
import type { Backup, BackupStatus, BackupTotals, Progress, VolumeBackupStatus } from '../../api/types.js';
import { jobState } from '../shared/jobs.js';
import {
  type MoverProgress,
  type MoverSummary,
  exitMeaning,
  outcomesByContainer,
} from '../shared/mover-output.js';
import { ANNOTATION_PARENT, containerVolumes } from './desired.js';

/** What the upload Job has come to. */
export type UploadOutcome =
  | { state: 'running' }
  | {
      state: 'succeeded';
      type: BackupType;
      parentBackup?: string;
      volumes: VolumeBackupStatus[];
      totals: BackupTotals;
    }
  | {
      state: 'failed';
      reason: Reason;
      message: string;
      volumes: VolumeBackupStatus[];
      /** The parent the Job was planned on, when it had one. */
      parentBackup?: string;
    };

function firstNumber(s: MoverSummary, keys: string[]): number | undefined {
  for (const k of keys) {
    const v = s[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

/** The per-volume result a successful mover summary gives. */
export function volumeResult(
  planned: VolumeBackupStatus,
  s: MoverSummary,
  blockSize?: number,
): VolumeBackupStatus {
  const sizeBytes = firstNumber(s, ['sizeBytes', 'bytesTotal', 'size']) ?? planned.sizeBytes;
  // The mover counts new blocks; in logical bytes that is blocks x block size (capped by the size).
  const blocksNew = firstNumber(s, ['blocksNew']);
  const fromBlocks =
    blocksNew !== undefined && blockSize ? Math.min(blocksNew * blockSize, sizeBytes ?? Infinity) : undefined;
  const changedBytes = firstNumber(s, ['bytesChanged', 'changedBytes']) ?? fromBlocks;
  const uploadedBytes = firstNumber(s, ['bytesNew', 'bytesUploaded', 'bytesWritten']);
  return {
    ...planned,
    ...(typeof s.manifest === 'string' ? { manifestID: s.manifest } : {}),
    ...(sizeBytes !== undefined ? { sizeBytes } : {}),
    ...(changedBytes !== undefined ? { changedBytes } : {}),
    ...(uploadedBytes !== undefined ? { uploadedBytes } : {}),
  };
}

/** Sums of the volumes' byte counts. */
export function totalsOf(volumes: VolumeBackupStatus[]): BackupTotals {
  const sum = (f: (v: VolumeBackupStatus) => number | undefined) =>
    volumes.reduce((n, v) => n + (f(v) ?? 0), 0);
  const sizeBytes = sum((v) => v.sizeBytes);
  const uploadedBytes = sum((v) => v.uploadedBytes);
  return {
    sizeBytes,
    changedBytes: sum((v) => v.changedBytes),
    uploadedBytes,
    size: humanBytes(sizeBytes),
    uploaded: humanBytes(uploadedBytes),
  };
}

/** Combined progress of several movers (bytes over all volumes). */
export function combinedProgress(parts: (MoverProgress | undefined)[], knownTotal = 0): Progress {
  let done = 0;
  let total = 0;
  for (const p of parts) {
    if (!p) continue;
    done += p.bytesDone;
    total += p.bytesTotal;
  }
  total = Math.max(total, knownTotal);
  const percent = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 0;
  return { percent, bytesDone: done, bytesTotal: total };
}

/**
 * Reads the upload Job and its pods. `planned` are the volumes (from the snapshots) in container order;
 * the result maps each container back to its volume through the container's env.
 */
export function uploadOutcome(
  job: V1Job,
  pods: V1Pod[],
  planned: VolumeBackupStatus[],
  blockSize?: number,
): UploadOutcome {
  const js = jobState(job);
  if (js.state === 'running') return { state: 'running' };
  const parentBackup = job.metadata?.annotations?.[ANNOTATION_PARENT];
  const byContainer = outcomesByContainer(pods);
  const volumes: VolumeBackupStatus[] = [];
  const failures: string[] = [];
  let reason: Reason = 'UploadFailed';
  for (const [container, ids] of containerVolumes(job)) {
    const plan = planned.find((p) => p.pvc === ids.pvc) ?? { name: ids.volume, pvc: ids.pvc };
    const o = byContainer.get(container);
    if (o?.state === 'succeeded') {
      volumes.push(volumeResult(plan, o.summary, blockSize));
    } else if (o?.state === 'failed') {
      const msg = `volume ${ids.volume} (PVC ${ids.pvc}): upload failed, mover exited ${o.exitCode} (${exitMeaning(o.exitCode)}): ${o.error.message}`;
      failures.push(msg);
      if (o.exitCode === 3) reason = 'WrongKey';
      // Exit 4 naming the parent: the incremental's base is not in the repository (any more).
      if (o.exitCode === 4 && parentBackup && /parent manifest/i.test(o.error.message))
        reason = 'ParentMissing';
      volumes.push({ ...plan, message: msg.slice(0, 1024) });
    } else {
      volumes.push({ ...plan, message: 'upload did not finish' });
    }
  }
  if (js.state === 'complete' && failures.length === 0 && volumes.every((v) => v.manifestID)) {
    return {
      state: 'succeeded',
      type: parentBackup ? BackupType.Incremental : BackupType.Full,
      ...(parentBackup ? { parentBackup } : {}),
      volumes,
      totals: totalsOf(volumes),
    };
  }
  if (js.state === 'failed' && js.reason === 'DeadlineExceeded') {
    reason = 'DeadlineExceeded';
    failures.unshift(
      `upload Job exceeded its deadline (${job.spec?.activeDeadlineSeconds ?? '?'}s): ${js.message}`.trim(),
    );
  }
  if (failures.length === 0) {
    const unfinished = volumes.filter((v) => !v.manifestID).map((v) => v.name);
    failures.push(
      `upload Job ${job.metadata?.name} failed (${js.state === 'failed' ? `${js.reason}: ${js.message}` : 'no result'})` +
        (unfinished.length ? `; volumes without a result: ${unfinished.join(', ')}` : '') +
        ': see the pod logs',
    );
  }
  return {
    state: 'failed',
    reason,
    message: failures.join('; '),
    volumes,
    ...(parentBackup ? { parentBackup } : {}),
  };
}

/**
 * Phases in which a Backup may hold its server's lock: snapshots or upload under way, or Pending just
 * after it took the lock and before it wrote Snapshotting (a holder must not look idle then, or a
 * second backup of the server would take the lock from it).
 */
export const ACTIVE_BACKUP_PHASES: readonly string[] = [
  BackupPhase.Pending,
  BackupPhase.Snapshotting,
  BackupPhase.Uploading,
];

/**
 * The latest Available backup of the same server in the same repository, the parent of an incremental.
 * Latest by completion time, then creation time, then name (deterministic on ties).
 */
export function latestAvailable(candidates: Backup[], self: Backup): Backup | undefined {
  const usable = candidates.filter(
    (b) =>
      b.metadata.name !== self.metadata.name &&
      !b.metadata.deletionTimestamp &&
      (b.status?.phase === BackupPhase.Available || b.status?.phase === BackupPhase.Restoring) &&
      b.spec.server.kind === self.spec.server.kind &&
      b.spec.server.name === self.spec.server.name &&
      b.spec.repositoryRef.name === self.spec.repositoryRef.name &&
      (b.status?.volumes ?? []).every((v) => v.manifestID) &&
      // Never build on damaged data: without a parent every block is read, so damage is written again.
      !(b.status?.conditions ?? []).some((c) => c.type === 'DataIntact' && c.status === 'False'),
  );
  const key = (b: Backup) => b.status?.completionTime ?? b.metadata.creationTimestamp?.toString() ?? '';
  // Times have whole seconds: within one second, a backup built on the other is the newer one.
  const chained = (a: Backup, b: Backup) =>
    a.status?.parentBackup === b.metadata.name ? 1 : b.status?.parentBackup === a.metadata.name ? -1 : 0;
  usable.sort(
    (a, b) =>
      key(a).localeCompare(key(b)) ||
      chained(a, b) ||
      (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  );
  return usable[usable.length - 1];
}

/** Manifest of each volume (by PVC, then by volume name) in a parent backup. */
export function parentManifests(parent: Backup | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of parent?.status?.volumes ?? []) {
    if (!v.manifestID) continue;
    out.set(`pvc:${v.pvc}`, v.manifestID);
    out.set(`name:${v.name}`, v.manifestID);
  }
  return out;
}

/** Every manifest id a Backup's data lives in. */
export function manifestsOf(backup: Backup): string[] {
  return (backup.status?.volumes ?? []).map((v) => v.manifestID).filter((m): m is string => Boolean(m));
}

/** The message of an Available backup: what it holds, whatever happened to it since (restores). */
export function availableMessage(status: BackupStatus | undefined): string {
  const volumes = status?.volumes?.length ?? 0;
  return `${status?.type ?? 'Full'} backup of ${volumes} volume(s): ${status?.totals?.uploadedBytes ?? 0} bytes uploaded`;
}
