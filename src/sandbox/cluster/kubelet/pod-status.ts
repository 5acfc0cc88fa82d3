/**
 * The kubelet's pod status as a pure function of the pod spec and its containers' states: phase,
 * conditions and container statuses as a real kubelet reports them.
 */
import type { Condition, ContainerStatus, Pod, PodPhase, PodStatus } from '../objects.js';

/** Phase of a pod from its containers' statuses and restart policy. */
export function podPhase(pod: Pod, statuses: readonly ContainerStatus[]): PodPhase {
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (
    statuses.length === 0 ||
    statuses.every((s) => s.state.waiting && s.restartCount === 0 && !s.lastState.terminated)
  )
    return 'Pending';
  const terminated = statuses.map((s) => s.state.terminated);
  if (terminated.every((t) => t !== undefined)) {
    const allOk = terminated.every((t) => t!.exitCode === 0);
    if (policy === 'Never') return allOk ? 'Succeeded' : 'Failed';
    if (policy === 'OnFailure' && allOk) return 'Succeeded';
  }
  return 'Running';
}

function condition(
  type: string,
  ok: boolean,
  now: string,
  prev: Condition[] | undefined,
  reason?: string,
): Condition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  const c: Condition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now,
  };
  if (reason) c.reason = reason;
  return c;
}

/** The pod's status given its containers' statuses (the kubelet writes it only when it changed). */
export function podStatus(
  pod: Pod,
  statuses: ContainerStatus[],
  now: Date,
  startTime: string | undefined,
): PodStatus {
  const nowIso = now.toISOString();
  const phase = podPhase(pod, statuses);
  const prev = pod.status?.conditions;
  const allRunning = statuses.length > 0 && statuses.every((s) => s.state.running !== undefined);
  const finished = phase === 'Succeeded' || phase === 'Failed';
  const notReady = finished ? 'PodCompleted' : allRunning ? undefined : 'ContainersNotReady';
  const status: PodStatus = {
    ...(pod.status ?? {}),
    phase,
    conditions: [
      condition('PodReadyToStartContainers', !finished, nowIso, prev),
      condition('Initialized', true, nowIso, prev),
      condition('Ready', allRunning, nowIso, prev, notReady),
      condition('ContainersReady', allRunning, nowIso, prev, notReady),
      condition('PodScheduled', true, nowIso, prev),
    ],
    hostIP: '127.0.0.1',
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    qosClass: pod.status?.qosClass ?? 'BestEffort',
    containerStatuses: statuses.map((s) => ({ ...s, ready: s.state.running !== undefined })),
  };
  if (startTime) status.startTime = startTime;
  return status;
}

/** A container that has not started yet. */
export function waitingStatus(
  name: string,
  image: string | undefined,
  reason = 'ContainerCreating',
  message?: string,
): ContainerStatus {
  return {
    name,
    state: { waiting: { reason, ...(message ? { message } : {}) } },
    lastState: {},
    ready: false,
    restartCount: 0,
    image: image ?? '',
    imageID: '',
    started: false,
  };
}
