/**
 * The Job controller's decisions as a pure function of the Job, its pods and the time: how many pods to
 * create or delete and what the Job's status becomes. Mirrors kube-controller-manager's job controller for
 * NonIndexed Jobs: backoffLimit (failed pods plus container restarts under OnFailure), activeDeadlineSeconds,
 * pod-creation backoff after failures, and the FailureTarget/Failed and SuccessCriteriaMet/Complete
 * conditions with the real reasons and messages.
 */
import type { Condition, Job, JobStatus, Pod } from '../objects.js';

/** Pod-creation backoff after failures: base * 2^(failures-1), capped (the real one is 10 s up to 6 min). */
export interface JobBackoff {
  baseMs: number;
  maxMs: number;
}

/** What the controller should do for one Job. */
export interface JobSyncResult {
  /** The status to write (the caller writes it only if it differs from the stored one). */
  status: JobStatus;
  /** Pods to create from the template now. */
  create: number;
  /** Names of pods to delete (active pods of a finished Job, or surplus ones). */
  delete: string[];
  /** Sync again after this long (backoff expiry, deadline, TTL). */
  requeueAfterMs?: number;
  /** Whether the Job is finished (Complete or Failed) once this status is written. */
  finished: boolean;
}

const ms = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

/** Whether a Job condition of this type is True. */
export function hasCondition(status: JobStatus | undefined, type: string): boolean {
  return (status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** Whether the Job finished (Complete or Failed). */
export function jobFinished(job: Job): boolean {
  return hasCondition(job.status, 'Complete') || hasCondition(job.status, 'Failed');
}

function isActive(p: Pod): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata.deletionTimestamp;
}

function isReady(p: Pod): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** When a pod finished: the latest container finish time, else its creation. */
function finishedAt(p: Pod): number {
  let t = 0;
  for (const cs of p.status?.containerStatuses ?? [])
    t = Math.max(t, ms(cs.state.terminated?.finishedAt) ?? 0);
  return t || (ms(p.metadata.creationTimestamp) ?? 0);
}

function setCondition(
  conditions: Condition[],
  type: string,
  reason: string,
  message: string,
  now: string,
): Condition[] {
  if (conditions.some((c) => c.type === type && c.status === 'True')) return conditions;
  return [
    ...conditions.filter((c) => c.type !== type),
    { type, status: 'True', lastProbeTime: now, lastTransitionTime: now, reason, message },
  ];
}

/** Computes the next step for `job` given its pods (all pods it controls, in any phase). */
export function syncJob(job: Job, pods: readonly Pod[], now: Date, backoff: JobBackoff): JobSyncResult {
  const nowIso = now.toISOString();
  const prev = job.status ?? {};
  const spec = job.spec;
  const active = pods.filter(isActive);
  const succeededPods = pods.filter((p) => p.status?.phase === 'Succeeded').length;
  const failedPods = pods.filter((p) => p.status?.phase === 'Failed').length;
  // Deleted pods leave the list; counts never go down (the real controller tracks them with a finalizer).
  const succeeded = Math.max(prev.succeeded ?? 0, succeededPods);
  const failed = Math.max(prev.failed ?? 0, failedPods);
  const terminating = pods.filter(
    (p) => p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
  ).length;
  let conditions = prev.conditions ?? [];

  const base: JobStatus = {
    ...prev,
    active: active.length,
    ready: active.filter(isReady).length,
    succeeded,
    failed,
    terminating,
    uncountedTerminatedPods: prev.uncountedTerminatedPods ?? {},
  };

  if (jobFinished(job)) {
    // A finished Job only reaps what is still running and waits for its TTL.
    const status = { ...base, conditions };
    return {
      status,
      create: 0,
      delete: active.map((p) => p.metadata.name),
      finished: true,
      ...ttlRequeue(job, now),
    };
  }

  if (spec.suspend) {
    conditions = setCondition(conditions, 'Suspended', 'JobSuspended', 'Job suspended', nowIso);
    return {
      status: { ...base, conditions },
      create: 0,
      delete: active.map((p) => p.metadata.name),
      finished: false,
    };
  }
  conditions = conditions.filter((c) => c.type !== 'Suspended');

  const startTime = prev.startTime ?? nowIso;
  const completions = spec.completions ?? 1;
  const parallelism = spec.parallelism ?? 1;
  const backoffLimit = spec.backoffLimit ?? 6;
  const restartPolicy = spec.template.spec.restartPolicy ?? 'Never';
  const restarts =
    restartPolicy === 'OnFailure'
      ? active.reduce(
          (n, p) => n + (p.status?.containerStatuses ?? []).reduce((m, cs) => m + (cs.restartCount ?? 0), 0),
          0,
        )
      : 0;

  let failure: { reason: string; message: string } | undefined;
  const existingTarget = conditions.find((c) => c.type === 'FailureTarget' && c.status === 'True');
  if (existingTarget)
    failure = { reason: existingTarget.reason ?? '', message: existingTarget.message ?? '' };
  else if (failed + restarts > backoffLimit) {
    failure = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
  } else if (
    spec.activeDeadlineSeconds !== undefined &&
    now.getTime() - Date.parse(startTime) >= spec.activeDeadlineSeconds * 1000
  ) {
    failure = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
  }

  if (failure) {
    conditions = setCondition(conditions, 'FailureTarget', failure.reason, failure.message, nowIso);
    const stillRunning = active.length + terminating;
    // Failed is set once no pod of the Job runs any more, as the real controller does since 1.31.
    if (stillRunning === 0)
      conditions = setCondition(conditions, 'Failed', failure.reason, failure.message, nowIso);
    const finished = stillRunning === 0;
    const status: JobStatus = { ...base, startTime, conditions };
    return {
      status,
      create: 0,
      delete: active.map((p) => p.metadata.name),
      finished,
      ...(finished ? ttlRequeue({ ...job, status }, now) : { requeueAfterMs: 200 }),
    };
  }

  if (succeeded >= completions) {
    conditions = setCondition(
      conditions,
      'SuccessCriteriaMet',
      'CompletionsReached',
      'Reached expected number of succeeded pods',
      nowIso,
    );
    if (active.length + terminating === 0) {
      conditions = setCondition(
        conditions,
        'Complete',
        'CompletionsReached',
        'Reached expected number of succeeded pods',
        nowIso,
      );
      const status: JobStatus = {
        ...base,
        startTime,
        completionTime: prev.completionTime ?? nowIso,
        conditions,
      };
      return { status, create: 0, delete: [], finished: true, ...ttlRequeue({ ...job, status }, now) };
    }
    return {
      status: { ...base, startTime, conditions },
      create: 0,
      delete: active.map((p) => p.metadata.name),
      finished: false,
    };
  }

  const wantActive = Math.min(parallelism, completions - succeeded);
  let create = 0;
  let requeueAfterMs: number | undefined;
  const deletions: string[] = [];
  if (active.length < wantActive) {
    const lastFailure = Math.max(0, ...pods.filter((p) => p.status?.phase === 'Failed').map(finishedAt));
    const wait = failed > 0 ? Math.min(backoff.maxMs, backoff.baseMs * 2 ** (failed - 1)) : 0;
    const readyAt = lastFailure + wait;
    if (failed === 0 || now.getTime() >= readyAt) create = wantActive - active.length;
    else requeueAfterMs = readyAt - now.getTime();
  } else if (active.length > wantActive) {
    deletions.push(...active.slice(wantActive).map((p) => p.metadata.name));
  }
  if (spec.activeDeadlineSeconds !== undefined) {
    const left = Date.parse(startTime) + spec.activeDeadlineSeconds * 1000 - now.getTime();
    requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(left, 1));
  }
  const status: JobStatus = { ...base, active: active.length + create, startTime, conditions };
  return {
    status,
    create,
    delete: deletions,
    finished: false,
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
  };
}

/** When a finished Job with `ttlSecondsAfterFinished` should be deleted. */
export function ttlExpired(job: Job, now: Date): boolean {
  return ttlLeftMs(job, now) === 0;
}

function ttlLeftMs(job: Job, now: Date): number | undefined {
  const ttl = job.spec.ttlSecondsAfterFinished;
  if (ttl === undefined) return undefined;
  const done = (job.status?.conditions ?? []).find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
  if (!done?.lastTransitionTime) return undefined;
  return Math.max(0, Date.parse(done.lastTransitionTime) + ttl * 1000 - now.getTime());
}

function ttlRequeue(job: Job, now: Date): { requeueAfterMs?: number } {
  const left = ttlLeftMs(job, now);
  return left === undefined ? {} : { requeueAfterMs: Math.max(left, 1) };
}
