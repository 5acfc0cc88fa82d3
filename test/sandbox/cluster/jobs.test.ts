import { expect } from 'chai';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { BatchV1Api, CoreV1Api, Log, type KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { pvc, waitFor, useSandboxCluster } from './helpers.js';

/** A Job running `sh -c script` in one container named `main`. */
function shJob(
  name: string,
  script: string,
  opts: { backoffLimit?: number; deadline?: number; container?: object; pod?: object } = {},
): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: opts.backoffLimit ?? 0,
      ...(opts.deadline !== undefined ? { activeDeadlineSeconds: opts.deadline } : {}),
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [
            { name: 'main', image: 'ignored', command: ['sh', '-c', script], ...(opts.container ?? {}) },
          ],
          ...(opts.pod ?? {}),
        },
      },
    },
  };
}

describe('sandbox cluster: Job controller and kubelet', function () {
  this.timeout(30_000);
  const cluster = useSandboxCluster('jobs');
  let sb: Sandbox;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let batch: BatchV1Api;

  before(() => {
    ({ sb, kc, core } = cluster);
    batch = kc.makeApiClient(BatchV1Api);
  });
  beforeEach(async () => {
    ns = cluster.ns;
  });

  async function finished(name: string): Promise<V1Job> {
    return waitFor(`job ${name} finished`, async () => {
      const j = await batch.readNamespacedJob({ namespace: ns, name });
      return j.status?.conditions?.some(
        (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
      )
        ? j
        : undefined;
    });
  }

  async function podsOf(job: string): Promise<V1Pod[]> {
    return (await core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${job}` })).items;
  }

  it('completes a Job whose pod writes into a Block PVC at its devicePath, with secret env and a termination message', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('disk', '1Mi', 'Block') });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'creds' }, stringData: { key: 's3cr3t-value' } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'cfg' }, data: { mode: 'fast' } },
    });
    await batch.createNamespacedJob({
      namespace: ns,
      body: shJob(
        'writer',
        'printf "$PAYLOAD" | dd of=/dev/xvdb bs=1 seek=4096 conv=notrunc 2>/dev/null && echo "key=$KEY mode=$MODE pod=$POD" && echo "wrote $(pwd)" > /dev/termination-log',
        {
          container: {
            workingDir: '/scratch/work',
            env: [
              { name: 'PAYLOAD', value: 'hello-block-device' },
              { name: 'KEY', valueFrom: { secretKeyRef: { name: 'creds', key: 'key' } } },
              { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
              { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            ],
            volumeDevices: [{ name: 'disk', devicePath: '/dev/xvdb' }],
          },
          pod: { volumes: [{ name: 'disk', persistentVolumeClaim: { claimName: 'disk' } }] },
        },
      ),
    });
    const job = await finished('writer');
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')).to.include({
      status: 'True',
      reason: 'CompletionsReached',
    });
    expect(job.status?.succeeded).to.equal(1);
    expect(job.status?.startTime).to.be.instanceOf(Date);
    expect(job.status?.completionTime).to.be.instanceOf(Date);

    const data = await readFile(await sb.cluster!.volumePath(ns, 'disk'));
    expect(data.subarray(4096, 4096 + 18).toString()).to.equal('hello-block-device');

    const [pod] = await podsOf('writer');
    expect(pod!.metadata?.labels).to.include({
      'job-name': 'writer',
      'batch.kubernetes.io/job-name': 'writer',
      'controller-uid': job.metadata!.uid!,
    });
    expect(pod!.metadata?.ownerReferences?.[0]).to.include({
      kind: 'Job',
      name: 'writer',
      uid: job.metadata!.uid,
      controller: true,
    });
    expect(pod!.status?.phase).to.equal('Succeeded');
    const term = pod!.status?.containerStatuses?.[0]?.state?.terminated;
    expect(term).to.include({ exitCode: 0, reason: 'Completed', message: 'wrote /scratch/work\n' });
    const log = await core.readNamespacedPodLog({ namespace: ns, name: pod!.metadata!.name! });
    expect(log).to.equal(`key=s3cr3t-value mode=fast pod=${pod!.metadata!.name}\n`);
  });

  it('retries a failing pod up to backoffLimit, then fails with BackoffLimitExceeded; logs stay readable', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      body: shJob('flaky', 'echo attempt failed >&2; exit 1', { backoffLimit: 2 }),
    });
    const job = await finished('flaky');
    const failed = job.status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed).to.include({
      status: 'True',
      reason: 'BackoffLimitExceeded',
      message: 'Job has reached the specified backoff limit',
    });
    expect(job.status?.failed).to.equal(3);
    expect(job.status?.active ?? 0).to.equal(0);
    const pods = await podsOf('flaky');
    expect(pods).to.have.length(3);
    for (const p of pods) {
      expect(p.status?.phase).to.equal('Failed');
      expect(p.status?.containerStatuses?.[0]?.state?.terminated).to.include({
        exitCode: 1,
        reason: 'Error',
      });
      expect(
        await core.readNamespacedPodLog({ namespace: ns, name: p.metadata!.name!, container: 'main' }),
      ).to.equal('attempt failed\n');
    }
  });

  it('kills a Job that outlives activeDeadlineSeconds (DeadlineExceeded) and its process', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      // 3 s: long enough that a loaded machine still sees the pod Running before the deadline.
      body: shJob('slow', 'echo started; sleep 30', { deadline: 3, backoffLimit: 3 }),
    });
    const pod = await waitFor('pod running', async () =>
      (await podsOf('slow')).find((p) => p.status?.phase === 'Running'),
    );
    const job = await finished('slow');
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')).to.include({
      reason: 'DeadlineExceeded',
      message: 'Job was active longer than specified deadline',
    });
    await waitFor('pod deleted', async () => (await podsOf('slow')).length === 0);
    expect(sb.cluster!.killPod(ns, pod.metadata!.name!)).to.equal(false);
  });

  it('uses the log tail as the termination message with FallbackToLogsOnError', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      body: shJob('fallback', 'echo line one; echo "fatal: bad things" >&2; exit 3', {
        container: { terminationMessagePolicy: 'FallbackToLogsOnError' },
      }),
    });
    await finished('fallback');
    const [pod] = await podsOf('fallback');
    expect(pod!.status?.containerStatuses?.[0]?.state?.terminated).to.include({
      exitCode: 3,
      message: 'line one\nfatal: bad things\n',
    });
  });

  it('runs the containers of a pod concurrently as the pod user, with emptyDir, secret and Filesystem PVC mounts', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: pvc('data', '1Mi', 'Filesystem'),
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'files' }, stringData: { 'token.txt': 'tok' } },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'duo' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsUser: 1234, runAsGroup: 1234, fsGroup: 2345 },
          volumes: [
            { name: 'shared', emptyDir: {} },
            { name: 'sec', secret: { secretName: 'files' } },
            { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
          ],
          containers: [
            // The two containers meet through the emptyDir: only possible if they run at the same time.
            {
              name: 'a',
              image: 'x',
              command: [
                'sh',
                '-c',
                'echo ping > /shared/ping; for i in $(seq 100); do [ -f /shared/pong ] && exit 0; sleep 0.05; done; exit 9',
              ],
              volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
            },
            {
              name: 'b',
              image: 'x',
              command: [
                'sh',
                '-c',
                'for i in $(seq 100); do [ -f /shared/ping ] && break; sleep 0.05; done; id -u > /data/uid; cat /etc/creds/token.txt >> /data/uid; touch /shared/pong',
              ],
              volumeMounts: [
                { name: 'shared', mountPath: '/shared' },
                { name: 'sec', mountPath: '/etc/creds' },
                { name: 'data', mountPath: '/data' },
              ],
            },
          ],
        },
      },
    });
    const pod = await waitFor('pod done', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'duo' });
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
    });
    expect(pod.status?.phase).to.equal('Succeeded');
    expect(await readFile(`${await sb.cluster!.volumePath(ns, 'data')}/uid`, 'utf8')).to.equal('1234\ntok');
  });

  it('applies fsGroup with OnRootMismatch only to a volume whose root lacks the group, and never to a Block volume', async function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can hand files to other users
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: pvc('repo', '1Mi', 'Filesystem'),
    });
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('dev', '1Mi', 'Block') });
    const run = async (name: string, policy: 'Always' | 'OnRootMismatch', script: string) => {
      await batch.createNamespacedJob({
        namespace: ns,
        body: shJob(name, script, {
          pod: {
            securityContext: {
              runAsUser: 1234,
              runAsGroup: 1234,
              fsGroup: 2345,
              fsGroupChangePolicy: policy,
            },
            volumes: [
              { name: 'repo', persistentVolumeClaim: { claimName: 'repo' } },
              { name: 'dev', persistentVolumeClaim: { claimName: 'dev' } },
            ],
          },
          container: {
            volumeMounts: [{ name: 'repo', mountPath: '/repo' }],
            volumeDevices: [{ name: 'dev', devicePath: '/dev/xvda' }],
          },
        }),
      });
      return (await finished(name)).status?.succeeded === 1;
    };
    expect(await run('first', 'OnRootMismatch', 'echo hi > /repo/a')).to.equal(true);
    // A file root writes afterwards (0600, root's group): the volume's root still matches.
    const late = `${await sb.cluster!.volumePath(ns, 'repo')}/late`;
    await writeFile(late, 'secret', { mode: 0o600 });
    expect(await run('skipped', 'OnRootMismatch', 'cat /repo/late')).to.equal(false);
    expect(await run('walked', 'Always', 'cat /repo/late')).to.equal(true);
    const dev = await stat(await sb.cluster!.volumePath(ns, 'dev'));
    expect([dev.uid, dev.gid, dev.mode & 0o777]).to.deep.equal([0, 6, 0o660]);
  });

  it('reports a killed process, a paused kubelet and an injected start failure', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'victim' },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['sleep', '30'] }] },
      },
    });
    await waitFor(
      'running',
      async () =>
        (await core.readNamespacedPod({ namespace: ns, name: 'victim' })).status?.phase === 'Running',
    );
    expect(sb.cluster!.killPod(ns, 'victim')).to.equal(true);
    const killed = await waitFor('killed', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'victim' });
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    expect(killed.status?.containerStatuses?.[0]?.state?.terminated).to.include({
      exitCode: 137,
      reason: 'Error',
      signal: 9,
    });

    sb.cluster!.pause('kubelet');
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'waits' },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['true'] }] },
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(
      (await core.readNamespacedPod({ namespace: ns, name: 'waits' })).status?.phase ?? 'Pending',
    ).to.equal('Pending');
    sb.cluster!.resume('kubelet');
    await waitFor(
      'ran after resume',
      async () =>
        (await core.readNamespacedPod({ namespace: ns, name: 'waits' })).status?.phase === 'Succeeded',
    );

    sb.cluster!.fail('kubelet', { times: 1, message: 'image pull failed' });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'broken' },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['true'] }] },
      },
    });
    const broken = await waitFor('failed start', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'broken' });
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    expect(broken.status?.containerStatuses?.[0]?.state?.terminated).to.include({
      exitCode: 128,
      reason: 'StartError',
      message: 'image pull failed',
    });
  });

  it('waits with CreateContainerConfigError for a missing secret, and runs `csbs` commands from this package', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'needs-secret' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'c',
              image: 'x',
              command: ['csbs', 'version'],
              env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'later', key: 'k' } } }],
            },
          ],
        },
      },
    });
    const waiting = await waitFor('config error', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'needs-secret' });
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError'
        ? p
        : undefined;
    });
    expect(waiting.status?.containerStatuses?.[0]?.state?.waiting?.message).to.equal(
      'secret "later" not found',
    );
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'later' }, stringData: { k: 'v' } },
    });
    await waitFor(
      'ran',
      async () =>
        (await core.readNamespacedPod({ namespace: ns, name: 'needs-secret' })).status?.phase === 'Succeeded',
    );
    const log = await core.readNamespacedPodLog({ namespace: ns, name: 'needs-secret' });
    expect(log).to.match(/^csbs \d+\.\d+\.\d+ \(node v/);
  });

  it('restarts a failing container in place under OnFailure and keeps the previous log', async () => {
    const script =
      'n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; echo "run $n"; [ $n -ge 3 ]';
    const body = shJob('retry', script, {
      backoffLimit: 5,
      pod: { restartPolicy: 'OnFailure', volumes: [{ name: 'state', emptyDir: {} }] },
      container: { volumeMounts: [{ name: 'state', mountPath: '/state' }] },
    });
    await batch.createNamespacedJob({ namespace: ns, body });
    const job = await finished('retry');
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).to.equal('True');
    const [pod] = await podsOf('retry');
    const cs = pod!.status!.containerStatuses![0]!;
    expect(cs.restartCount).to.equal(2);
    expect(cs.lastState?.terminated?.exitCode).to.equal(1);
    expect(cs.state?.terminated?.exitCode).to.equal(0);
    const name = pod!.metadata!.name!;
    expect(await core.readNamespacedPodLog({ namespace: ns, name })).to.equal('run 3\n');
    expect(await core.readNamespacedPodLog({ namespace: ns, name, previous: true })).to.equal('run 2\n');
  });

  it("streams a running container's log with follow", async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'talker' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'c',
              image: 'x',
              command: ['sh', '-c', 'for i in 1 2 3; do echo "tick $i"; sleep 0.1; done'],
            },
          ],
        },
      },
    });
    await waitFor(
      'running',
      async () =>
        (await core.readNamespacedPod({ namespace: ns, name: 'talker' })).status?.phase !== 'Pending',
    );
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const ended = new Promise<void>((resolve) => out.on('end', resolve));
    await new Log(kc).log(ns, 'talker', 'c', out, { follow: true });
    await ended;
    expect(text).to.equal('tick 1\ntick 2\ntick 3\n');
  });
});
