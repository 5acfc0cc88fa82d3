import { expect } from 'chai';
import { syncJob, ttlExpired } from '../../../src/sandbox/cluster/jobs/job-sync.js';
import { podPhase, podStatus, waitingStatus } from '../../../src/sandbox/cluster/kubelet/pod-status.js';
import type { ContainerStatus, Job, Pod } from '../../../src/sandbox/cluster/objects.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number): Date => new Date(T0 + s * 1000);
const iso = (s: number): string => at(s).toISOString();
const backoff = { baseMs: 1000, maxMs: 8000 };

/** A small builder in the style of Velero's: job().backoffLimit(2).started(0).result(). */
function job(name = 'j') {
  const j: Job = {
    metadata: { name, namespace: 'ns', uid: 'uid-1' },
    spec: { template: { spec: { containers: [{ name: 'c' }], restartPolicy: 'Never' } } },
  };
  const b = {
    backoffLimit: (n: number) => ((j.spec.backoffLimit = n), b),
    deadline: (s: number) => ((j.spec.activeDeadlineSeconds = s), b),
    ttl: (s: number) => ((j.spec.ttlSecondsAfterFinished = s), b),
    onFailure: () => ((j.spec.template.spec.restartPolicy = 'OnFailure'), b),
    started: (s: number) => ((j.status = { ...(j.status ?? {}), startTime: iso(s) }), b),
    result: () => j,
  };
  return b;
}

function pod(
  name: string,
  phase: Pod['status'] extends infer S ? (S extends { phase?: infer P } ? P : never) : never,
  opts: { finished?: number; restarts?: number } = {},
): Pod {
  const cs: ContainerStatus = {
    ...waitingStatus('c', ''),
    restartCount: opts.restarts ?? 0,
    state:
      phase === 'Failed' || phase === 'Succeeded'
        ? { terminated: { exitCode: phase === 'Failed' ? 1 : 0, finishedAt: iso(opts.finished ?? 0) } }
        : { running: {} },
  };
  return {
    metadata: { name, namespace: 'ns', creationTimestamp: iso(0) },
    spec: { containers: [{ name: 'c' }] },
    status: { phase, containerStatuses: [cs] },
  };
}

describe('sandbox job controller: decisions', () => {
  const cases: Array<{
    name: string;
    job: Job;
    pods: Pod[];
    now: number;
    expect: Partial<{
      create: number;
      delete: string[];
      finished: boolean;
      condition: string;
      reason: string;
      requeueAfterMs: number;
      active: number;
      failed: number;
    }>;
  }> = [
    {
      name: 'a new Job gets one pod',
      job: job().result(),
      pods: [],
      now: 0,
      expect: { create: 1, finished: false, active: 1 },
    },
    {
      name: 'a running pod is left alone',
      job: job().started(0).result(),
      pods: [pod('p1', 'Running')],
      now: 5,
      expect: { create: 0, active: 1 },
    },
    {
      name: 'success completes the Job',
      job: job().started(0).result(),
      pods: [pod('p1', 'Succeeded')],
      now: 5,
      expect: { finished: true, condition: 'Complete', reason: 'CompletionsReached' },
    },
    {
      name: 'a failure is retried after the back-off',
      job: job().backoffLimit(2).started(0).result(),
      pods: [pod('p1', 'Failed', { finished: 1 })],
      now: 1.5,
      expect: { create: 0, requeueAfterMs: 500, failed: 1 },
    },
    {
      name: 'a failure is retried once the back-off passed',
      job: job().backoffLimit(2).started(0).result(),
      pods: [pod('p1', 'Failed', { finished: 1 })],
      now: 2,
      expect: { create: 1 },
    },
    {
      name: 'back-off doubles per failure',
      job: job().backoffLimit(5).started(0).result(),
      pods: [pod('p1', 'Failed', { finished: 1 }), pod('p2', 'Failed', { finished: 3 })],
      now: 4,
      expect: { create: 0, requeueAfterMs: 1000 },
    },
    {
      name: 'failures beyond backoffLimit fail the Job',
      job: job().backoffLimit(2).started(0).result(),
      pods: ['p1', 'p2', 'p3'].map((n, i) => pod(n, 'Failed', { finished: i })),
      now: 10,
      expect: { finished: true, condition: 'Failed', reason: 'BackoffLimitExceeded', failed: 3 },
    },
    {
      name: 'OnFailure restarts count toward backoffLimit',
      job: job().onFailure().backoffLimit(1).started(0).result(),
      pods: [pod('p1', 'Running', { restarts: 2 })],
      now: 3,
      expect: { delete: ['p1'], finished: false, condition: 'FailureTarget' },
    },
    {
      name: 'the deadline kills active pods',
      job: job().deadline(5).started(0).result(),
      pods: [pod('p1', 'Running')],
      now: 5,
      expect: { delete: ['p1'], finished: false, condition: 'FailureTarget', reason: 'DeadlineExceeded' },
    },
    {
      name: 'the deadline fails the Job once pods are gone',
      job: job().deadline(5).started(0).result(),
      pods: [],
      now: 6,
      expect: { finished: true, condition: 'Failed', reason: 'DeadlineExceeded' },
    },
    {
      name: 'a deadline ahead asks for a requeue',
      job: job().deadline(5).started(0).result(),
      pods: [pod('p1', 'Running')],
      now: 2,
      expect: { requeueAfterMs: 3000 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = syncJob(c.job, c.pods, at(c.now), backoff);
      if (c.expect.create !== undefined) expect(r.create).to.equal(c.expect.create);
      if (c.expect.delete !== undefined) expect(r.delete).to.deep.equal(c.expect.delete);
      if (c.expect.finished !== undefined) expect(r.finished).to.equal(c.expect.finished);
      if (c.expect.requeueAfterMs !== undefined) expect(r.requeueAfterMs).to.equal(c.expect.requeueAfterMs);
      if (c.expect.active !== undefined) expect(r.status.active).to.equal(c.expect.active);
      if (c.expect.failed !== undefined) expect(r.status.failed).to.equal(c.expect.failed);
      if (c.expect.condition) {
        const cond = r.status.conditions?.find((x) => x.type === c.expect.condition);
        expect(cond?.status, `condition ${c.expect.condition}`).to.equal('True');
        if (c.expect.reason) expect(cond?.reason).to.equal(c.expect.reason);
      }
      if (c.expect.condition === 'Complete') expect(r.status.completionTime).to.equal(iso(c.now));
      if (c.expect.condition === 'Failed') expect(r.status.completionTime).to.equal(undefined);
    });
  }

  it('a finished Job expires after ttlSecondsAfterFinished', () => {
    const j = job().ttl(10).started(0).result();
    const done = syncJob(j, [pod('p1', 'Succeeded')], at(1), backoff);
    expect(done.requeueAfterMs).to.equal(10_000);
    const finished = { ...j, status: done.status };
    expect(ttlExpired(finished, at(5))).to.equal(false);
    expect(ttlExpired(finished, at(11))).to.equal(true);
  });
});

describe('sandbox kubelet: pod status', () => {
  const p = (restartPolicy: 'Never' | 'OnFailure' | 'Always'): Pod => ({
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'a' }, { name: 'b' }], restartPolicy },
  });
  const term = (name: string, exitCode: number): ContainerStatus => ({
    ...waitingStatus(name, ''),
    state: { terminated: { exitCode } },
  });
  const run = (name: string): ContainerStatus => ({ ...waitingStatus(name, ''), state: { running: {} } });
  it('derives the phase from containers and restartPolicy', () => {
    expect(podPhase(p('Never'), [waitingStatus('a', ''), waitingStatus('b', '')])).to.equal('Pending');
    expect(podPhase(p('Never'), [run('a'), term('b', 0)])).to.equal('Running');
    expect(podPhase(p('Never'), [term('a', 0), term('b', 0)])).to.equal('Succeeded');
    expect(podPhase(p('Never'), [term('a', 0), term('b', 2)])).to.equal('Failed');
    expect(podPhase(p('OnFailure'), [term('a', 0), term('b', 2)])).to.equal('Running');
    expect(podPhase(p('OnFailure'), [term('a', 0), term('b', 0)])).to.equal('Succeeded');
    expect(podPhase(p('Always'), [term('a', 0), term('b', 0)])).to.equal('Running');
  });
  it('is Ready only while every container runs', () => {
    const s = podStatus(p('Never'), [run('a'), run('b')], at(0), iso(0));
    expect(s.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
    const done = podStatus({ ...p('Never'), status: s }, [term('a', 0), term('b', 0)], at(3), iso(0));
    const ready = done.conditions?.find((c) => c.type === 'Ready');
    expect(ready).to.include({ status: 'False', reason: 'PodCompleted', lastTransitionTime: iso(3) });
    expect(done.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime).to.equal(iso(0));
  });
});
