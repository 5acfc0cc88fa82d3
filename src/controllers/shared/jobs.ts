/** Reading a Job's outcome as the Job controller reports it (conditions Complete / Failed). */
import type { V1Job, V1Pod } from '@kubernetes/client-node';

/** `running`, `complete` or `failed`, with the Job controller's reason and message when failed. */
export type JobState =
  { state: 'running' } | { state: 'complete' } | { state: 'failed'; reason: string; message: string };

/** The state of a Job from its conditions. */
export function jobState(job: V1Job): JobState {
  const conds = job.status?.conditions ?? [];
  if (conds.some((c) => c.type === 'Complete' && c.status === 'True')) return { state: 'complete' };
  const failed = conds.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed) return { state: 'failed', reason: failed.reason ?? 'Failed', message: failed.message ?? '' };
  return { state: 'running' };
}

/** Pods of a Job: by owner uid, or by the job-name labels the Job controller sets. */
export function podsOfJob(job: V1Job, pods: V1Pod[]): V1Pod[] {
  const name = job.metadata?.name;
  return pods.filter(
    (p) =>
      (p.metadata?.ownerReferences ?? []).some((o) => o.uid && o.uid === job.metadata?.uid) ||
      p.metadata?.labels?.['job-name'] === name ||
      p.metadata?.labels?.['batch.kubernetes.io/job-name'] === name,
  );
}
