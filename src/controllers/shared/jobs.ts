/** Reading a Job's outcome as the Job controller reports it (conditions Complete / Failed). */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../../api/labels.js';
import type { KubeClient } from '../../runtime/client.js';
import { isAlreadyExists } from '../../runtime/errors.js';
import { Kinds } from '../../runtime/kinds.js';

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

/**
 * Creates a mover Job, first making sure its ServiceAccount exists in the namespace (a pod naming a
 * missing account is never created, and the Job would wait silently). The account mounts no token:
 * movers never talk to the API.
 */
export async function createMoverJob(client: KubeClient, job: V1Job): Promise<V1Job> {
  const ns = job.metadata?.namespace ?? '';
  const account = job.spec?.template.spec?.serviceAccountName;
  if (account) {
    try {
      await client.create(Kinds.ServiceAccount, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: account, namespace: ns, labels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
        automountServiceAccountToken: false,
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  return client.create(Kinds.Job, job);
}
