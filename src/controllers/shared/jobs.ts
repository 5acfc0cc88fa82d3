/** Reading a Job's outcome as the Job controller reports it (conditions Complete / Failed), and its pods. */
import type { KubernetesObject, V1Job, V1Pod } from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../../api/labels.js';
import type { KubeClient } from '../../runtime/client.js';
import { isAlreadyExists } from '../../runtime/errors.js';
import { Kinds, type ResourceKind } from '../../runtime/kinds.js';
import type { ReconcileContext } from '../../runtime/reconciler.js';
import { selectorString } from './selector.js';

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

/**
 * The objects of `kind` in `namespace` that the controllers made (managed-by csbs-operator) and that
 * carry every label of `labels`: from the informer cache, or when `fresh`, from the API (for decisions
 * that must not rest on a lagging cache: a finished Job's result, the last cleanup before a finalizer
 * goes). Either way an object someone else labelled alike is never read, nor deleted.
 */
export async function listChildren<T extends KubernetesObject>(
  ctx: Pick<ReconcileContext, 'client' | 'cache'>,
  kind: ResourceKind<T>,
  namespace: string,
  labels: Record<string, string>,
  fresh: boolean,
): Promise<T[]> {
  const ours = { ...labels, [LABEL_MANAGED_BY]: MANAGED_BY };
  if (!fresh) return ctx.cache.list(kind, { namespace, labels: ours });
  return (await ctx.client.list(kind, namespace, { labelSelector: selectorString({ matchLabels: ours }) }))
    .items;
}

/** The pods of a Job labelled `labels`: cached while it runs, from the API once it has ended. */
export async function jobPodsOf(
  ctx: Pick<ReconcileContext, 'client' | 'cache'>,
  job: V1Job,
  labels: Record<string, string>,
): Promise<V1Pod[]> {
  const ns = job.metadata?.namespace ?? '';
  return podsOfJob(job, await listChildren(ctx, Kinds.Pod, ns, labels, jobState(job).state !== 'running'));
}

/** Waiting reasons of a container that will not start by itself. */
const STUCK_REASONS = new Set([
  'CreateContainerConfigError',
  'CreateContainerError',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
]);

/**
 * Why a Job's pod has been unable to start for longer than `graceMs` (a missing Secret, an image that
 * cannot be pulled, no node to run on), or undefined. A pod in that state would otherwise hold its
 * server until the Job's deadline, hours later.
 */
export function podCannotStart(pods: V1Pod[], nowMs: number, graceMs: number): string | undefined {
  for (const pod of pods) {
    if (pod.status?.phase !== 'Pending') continue;
    const since = new Date(String(pod.metadata?.creationTimestamp ?? '')).getTime();
    if (Number.isNaN(since) || nowMs - since < graceMs) continue;
    const name = pod.metadata?.name ?? '';
    const waiting = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
      .map((cs) => ({ container: cs.name, waiting: cs.state?.waiting }))
      .find((w) => w.waiting?.reason && STUCK_REASONS.has(w.waiting.reason));
    if (waiting)
      return `pod ${name} cannot start: container ${waiting.container}: ${waiting.waiting?.reason}: ${waiting.waiting?.message ?? ''}`.trim();
    const unscheduled = pod.status?.conditions?.find(
      (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
    );
    if (unscheduled) return `pod ${name} cannot be scheduled: ${unscheduled.message ?? 'no node fits it'}`;
  }
  return undefined;
}
