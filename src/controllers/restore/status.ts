/** Pure status of a Restore: per-volume results and the failure message from the restore Job's pods. */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { Reason } from '../../api/conditions.js';
import type { VolumeRestoreStatus } from '../../api/types.js';
import { jobState } from '../shared/jobs.js';
import { exitMeaning, outcomesByContainer } from '../shared/mover-output.js';
import { ENV_TARGET_PVC } from './desired.js';

/** What the restore Job has come to. */
export type RestoreOutcome =
  | { state: 'running' }
  | { state: 'succeeded'; volumes: VolumeRestoreStatus[] }
  | { state: 'failed'; reason: string; message: string; volumes: VolumeRestoreStatus[] };

/** Reason for a mover exit code (and the error code from its summary, when known) during restore. */
export function restoreReason(exitCode: number, errorCode?: string): string {
  if (errorCode === 'TargetUnwritable') return Reason.TargetUnwritable;
  if (exitCode === 5) return Reason.CorruptData;
  if (exitCode === 6) return Reason.TargetTooSmall;
  if (exitCode === 7) return Reason.StorageFailure;
  if (exitCode === 3) return Reason.WrongKey;
  return Reason.RestoreFailed;
}

/** Reads the restore Job and its pods into per-volume results or a failure naming the volume. */
export function restoreOutcome(job: V1Job, pods: V1Pod[]): RestoreOutcome {
  const js = jobState(job);
  if (js.state === 'running') return { state: 'running' };
  const outcomes = outcomesByContainer(pods);
  const volumes: VolumeRestoreStatus[] = [];
  const failures: string[] = [];
  let reason: string = Reason.RestoreFailed;
  for (const c of job.spec?.template.spec?.containers ?? []) {
    const env = new Map((c.env ?? []).map((e) => [e.name, e.value ?? '']));
    const name = env.get('CSBS_VOLUME') ?? c.name;
    const pvc = env.get(ENV_TARGET_PVC) ?? '';
    const o = outcomes.get(c.name);
    if (o?.state === 'succeeded') {
      const s = o.summary;
      const written = [s.bytesWritten, s.bytesRestored, s.bytesChanged].find((x) => typeof x === 'number') as
        number | undefined;
      volumes.push({ name, pvc, ...(written !== undefined ? { restoredBytes: written } : {}) });
    } else if (o?.state === 'failed') {
      const msg = `volume ${name} (PVC ${pvc}): restore failed, mover exited ${o.exitCode} (${exitMeaning(o.exitCode)}): ${o.error.message}`;
      failures.push(msg);
      if (reason === Reason.RestoreFailed) reason = restoreReason(o.exitCode, o.error.code);
      volumes.push({ name, pvc, message: msg.slice(0, 1024) });
    } else {
      volumes.push({ name, pvc, message: 'restore did not finish' });
    }
  }
  if (js.state === 'complete' && failures.length === 0) return { state: 'succeeded', volumes };
  if (js.state === 'failed' && js.reason === 'DeadlineExceeded') {
    reason = Reason.DeadlineExceeded;
    failures.unshift(`restore Job exceeded its deadline (${job.spec?.activeDeadlineSeconds ?? '?'}s)`);
  }
  if (!failures.length)
    failures.push(
      `restore Job ${job.metadata?.name} failed (${js.state === 'failed' ? `${js.reason}: ${js.message}` : 'no result'}): see the pod logs`,
    );
  return { state: 'failed', reason, message: failures.join('; '), volumes };
}
