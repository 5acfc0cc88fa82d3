/**
 * The Job controller (kube-controller-manager's, for NonIndexed Jobs) plus the TTL-after-finished
 * controller: creates the Job's pods from its template with the real labels and controller
 * ownerReference, deletes them when the Job fails or is done, and writes the Job's /status from the pure
 * decisions of job-sync.ts.
 */
import { ClusterController, keyOf, splitKey, type ReconcileResult } from '../controller.js';
import { RES, statusCode, type Kube } from '../kube.js';
import type { Job, Pod } from '../objects.js';
import { syncJob, ttlExpired, type JobBackoff } from './job-sync.js';

/** The controller of a pod, when it is a Job. */
function jobOwner(pod: Pod): string | undefined {
  const ref = pod.metadata.ownerReferences?.find(
    (r) => r.controller && r.kind === 'Job' && r.apiVersion === 'batch/v1',
  );
  return ref ? `${pod.metadata.namespace}/${ref.name}` : undefined;
}

/** Runs Jobs. */
export class JobController extends ClusterController {
  protected readonly component = 'job-controller';
  readonly jobs;
  readonly pods;
  /** Pods created but not yet seen by the informer, per Job uid: the real controller's "expectations". */
  private readonly expected = new Map<string, Map<string, Pod>>();

  constructor(
    kube: Kube,
    private readonly backoff: JobBackoff,
    now?: () => Date,
  ) {
    super('jobs', kube, now);
    this.jobs = this.informer<Job>(RES.jobs, { onUpsert: (j) => this.enqueue(keyOf(j)) });
    const onPod = (p: Pod): void => {
      const owner = jobOwner(p);
      if (owner) this.enqueue(owner);
    };
    this.pods = this.informer<Pod>(RES.pods, { onUpsert: onPod, onDelete: onPod });
  }

  protected async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const job = this.jobs.get(namespace, name);
    if (!job || job.metadata.deletionTimestamp) return;
    const uid = job.metadata.uid ?? '';
    const owned = this.pods.list(
      (p) =>
        p.metadata.namespace === namespace &&
        (p.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.controller),
    );
    const pending = this.expected.get(uid) ?? new Map<string, Pod>();
    for (const p of owned) pending.delete(p.metadata.name);
    // An expectation the informer never confirms (the pod vanished at once) expires instead of blocking forever.
    for (const [n, p] of pending)
      if (this.now().getTime() - Date.parse(p.metadata.creationTimestamp ?? '') > 30_000) pending.delete(n);
    const pods = [...owned, ...pending.values()];

    const now = this.now();
    const result = syncJob(job, pods, now, this.backoff);
    if (result.finished && ttlExpired({ ...job, status: result.status }, now)) {
      await this.kube.delete(RES.jobs, namespace, name, 'Background');
      return;
    }

    for (const podName of result.delete) {
      await this.kube.delete(RES.pods, namespace, podName, 'Background');
      pending.delete(podName);
    }
    let created = 0;
    for (let i = 0; i < result.create; i++) {
      const fault = this.takeFault();
      if (fault) {
        await this.event(job, 'Warning', 'FailedCreate', `Error creating: ${fault}`);
        break;
      }
      const pod = await this.kube.create<Pod>(RES.pods, this.podFor(job));
      pending.set(pod.metadata.name, pod);
      created++;
      await this.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`);
    }
    if (pending.size > 0) this.expected.set(uid, pending);
    else this.expected.delete(uid);

    const status = { ...result.status, active: (result.status.active ?? 0) - (result.create - created) };
    if (JSON.stringify(status) !== JSON.stringify(job.status ?? {})) {
      try {
        await this.kube.patchStatus(RES.jobs, namespace, name, status);
      } catch (e) {
        if (statusCode(e) !== 404) throw e;
      }
      if (
        result.finished &&
        !job.status?.conditions?.some(
          (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
        )
      ) {
        const failed = status.conditions?.find((c) => c.type === 'Failed');
        if (failed) await this.event(job, 'Warning', failed.reason ?? 'Failed', failed.message ?? '');
        else await this.event(job, 'Normal', 'Completed', 'Job completed');
      }
    }
    if (created < result.create) return { requeueAfterMs: 1000 };
    return result.requeueAfterMs !== undefined ? { requeueAfterMs: result.requeueAfterMs } : undefined;
  }

  /** A pod from the Job's template, named `<job>-xxxxx`, labelled and owned as the real controller does. */
  private podFor(job: Job): Pod {
    const uid = job.metadata.uid ?? '';
    const name = job.metadata.name;
    const tmpl = job.spec.template;
    return {
      metadata: {
        name: '',
        generateName: `${name}-`,
        namespace: job.metadata.namespace,
        labels: {
          ...(tmpl.metadata?.labels ?? {}),
          'batch.kubernetes.io/controller-uid': uid,
          'batch.kubernetes.io/job-name': name,
          'controller-uid': uid,
          'job-name': name,
        },
        annotations: { ...(tmpl.metadata?.annotations ?? {}) },
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: tmpl.spec,
    };
  }
}
