/**
 * The e2e harness: one cluster per suite (the in-process sandbox, or a real cluster when
 * `CSBS_E2E_KUBECONFIG` is set, or `KUBECONFIG` with `CSBS_E2E_REAL_CLUSTER=1`), the real controller
 * Manager running our reconcilers in-process, and helpers that act on volumes through Jobs (`sh`, `dd`,
 * `sha256sum` in a tools image) so the same test code runs against both.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig, type V1Job, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { createReconcilers, type ControllerSettings } from '../../src/controllers/index.js';
import { MANAGED_SELECTOR } from '../../src/controllers/shared/mover.js';
import { defaultSettings } from '../../src/controllers/shared/settings.js';
import { KubeClient } from '../../src/runtime/client.js';
import { isAlreadyExists } from '../../src/runtime/errors.js';
import { Kinds, type GenericObject } from '../../src/runtime/kinds.js';
import { Manager } from '../../src/runtime/manager.js';
import type { SimulatedCluster } from '../../src/sandbox/cluster/index.js';
import { startSandbox, type Sandbox as BaseSandbox } from '../../src/sandbox/index.js';
import { packageRoot, version } from '../../src/version.js';
import type { Backup, BackupRepository, OneOffBackup, Restore } from '../../src/api/types.js';

/** The sandbox with its simulated cluster (storage, snapshots, Jobs, KubeVirt), when wired in. */
export type Sandbox = BaseSandbox & { cluster?: SimulatedCluster };

/** Where the suite runs. */
export interface Cluster {
  kubeConfig: KubeConfig;
  client: KubeClient;
  /** The sandbox when running in-process (fault injection, freeze log); undefined on a real cluster. */
  sandbox?: Sandbox;
  real: boolean;
  /** False when the sandbox runs without its simulated cluster (nothing would ever bind or run). */
  usable: boolean;
  /** Image of the data Jobs the tests run (`sh`, `dd`, `sha256sum`). */
  toolsImage: string;
  close(): Promise<void>;
}

/** Real-cluster kubeconfig, if the environment selects one. */
export function realClusterKubeconfig(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CSBS_E2E_KUBECONFIG) return env.CSBS_E2E_KUBECONFIG;
  if (env.CSBS_E2E_REAL_CLUSTER === '1' && env.KUBECONFIG) return env.KUBECONFIG;
  return undefined;
}

/** Opens the sandbox (default) or the real cluster. */
export async function openCluster(): Promise<Cluster> {
  const path = realClusterKubeconfig();
  if (path) {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return {
      kubeConfig: kc,
      client: new KubeClient(kc),
      real: true,
      usable: true,
      toolsImage: process.env.CSBS_E2E_TOOLS_IMAGE ?? 'busybox:1.36',
      close: async () => {},
    };
  }
  const sb: Sandbox = await startSandbox();
  const kc = sb.kubeConfig();
  return {
    kubeConfig: kc,
    client: new KubeClient(kc),
    sandbox: sb,
    real: false,
    // Also needs the csbs.dev CRDs (crds/) that startSandbox installs: without them nothing can be applied.
    usable: Boolean(sb.cluster) && existsSync(join(packageRoot, 'crds')),
    toolsImage: 'busybox:1.36',
    close: () => sb.stop(),
  };
}

/** Short waits and no pod retries, so failures show at once and the suite stays fast. */
export function testSettings(): ControllerSettings {
  const s = defaultSettings(version);
  if (process.env.CSBS_E2E_IMAGE) s.jobs.image = process.env.CSBS_E2E_IMAGE;
  s.jobs.backoffLimit = 0;
  s.jobs.activeDeadlineSeconds = 300;
  s.pollMs = 150;
  s.freezeTimeoutMs = 20_000;
  s.pvcBindGraceMs = 30_000;
  s.snapshotTimeoutMs = 120_000;
  s.vmStopTimeoutMs = 60_000;
  s.repositoryRetryMs = 2_000;
  s.backupWaitMs = 3_000;
  return s;
}

/** The controller process, in-process: start, kill (stop without cleanup of anything it made), start again. */
export class Controller {
  private manager: Manager | undefined;
  constructor(
    private readonly cluster: Cluster,
    private readonly settings: ControllerSettings = testSettings(),
  ) {}

  async start(): Promise<Manager> {
    const m = new Manager({
      kubeConfig: this.cluster.kubeConfig,
      leaderElection: { enabled: false },
      concurrency: 4,
    });
    for (const r of createReconcilers(this.settings)) m.add(r);
    await m.start();
    this.manager = m;
    return m;
  }

  async stop(): Promise<void> {
    await this.manager?.stop();
    this.manager = undefined;
  }
}

/**
 * Polls `probe` until it returns a value (not undefined/false), or fails naming `what` and the last value
 * (or what `detail` says about the state of things then).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  detail?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = detail
        ? await detail().catch((e: Error) => e.message)
        : last instanceof Error
          ? last.message
          : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${why})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Creates an object, tolerating AlreadyExists. */
export async function apply<T extends GenericObject | object>(
  client: KubeClient,
  kind: Parameters<KubeClient['create']>[0],
  obj: T,
): Promise<void> {
  try {
    await client.create(kind, obj as never);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

/** A fresh namespace per test group, so groups never see each other's objects. */
export async function freshNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.create(Kinds.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

/** A PVC of `size` in Block or Filesystem mode (the default StorageClass). */
export function pvc(
  ns: string,
  name: string,
  size: string,
  block = true,
  labels: Record<string, string> = {},
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: ns, labels },
    spec: {
      accessModes: ['ReadWriteOnce'],
      volumeMode: block ? 'Block' : 'Filesystem',
      resources: { requests: { storage: size } },
    },
  };
}

/** The key Secret, the repository PVC and a filesystem BackupRepository with a small block size. */
export async function createRepository(
  client: KubeClient,
  ns: string,
  name = 'repo',
  blockSize = 4096,
): Promise<void> {
  await apply(client, Kinds.Secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-key`, namespace: ns },
    stringData: { 'repository-key': randomBytes(24).toString('base64') },
  });
  await apply(client, Kinds.PersistentVolumeClaim, pvc(ns, `${name}-data`, '256Mi', false));
  const repo: BackupRepository = {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'BackupRepository',
    metadata: { name, namespace: ns },
    spec: {
      backend: { filesystem: { persistentVolumeClaim: { claimName: `${name}-data` } } },
      encryption: { keySecretRef: { name: `${name}-key` } },
      blockSize,
      compression: 'zstd',
    },
  };
  await apply(client, Kinds.BackupRepository, repo);
}

/** A VirtualMachine with one Block PVC per disk; `agent: false` simulates a guest without the guest agent. */
export async function createVM(
  client: KubeClient,
  ns: string,
  name: string,
  disks: { name: string; size: string }[],
  opts: { agent?: boolean; running?: boolean } = {},
): Promise<string[]> {
  const claims = disks.map((d) => `${name}-${d.name}`);
  for (const [i, d] of disks.entries())
    await apply(client, Kinds.PersistentVolumeClaim, pvc(ns, claims[i], d.size, true));
  await apply(client, Kinds.VirtualMachine, {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace: ns,
      ...(opts.agent === false ? { annotations: { 'sandbox.csbs.dev/guest-agent': 'false' } } : {}),
    },
    spec: {
      runStrategy: opts.running === false ? 'Halted' : 'Always',
      template: {
        spec: {
          domain: {
            devices: { disks: disks.map((d) => ({ name: d.name, disk: { bus: 'virtio' } })) },
            resources: { requests: { memory: '64Mi' } },
          },
          volumes: disks.map((d, i) => ({ name: d.name, persistentVolumeClaim: { claimName: claims[i] } })),
        },
      },
    },
  });
  // A backup of a VM that is still starting is crash-consistent (no guest to freeze): tests that
  // expect a running guest need it up first.
  if (opts.running !== false)
    await waitFor(`VirtualMachine ${name} Running`, async () => {
      const vm = await client.get(Kinds.VirtualMachine, ns, name);
      return vm.status?.printableStatus === 'Running';
    });
  return claims;
}

let toolRuns = 0;

/**
 * Runs a shell script in a Job with the given Block PVCs at /dev/d0, /dev/d1... and returns what the
 * script wrote to /dev/termination-log. Fails with the pod's message if the script fails.
 */
export async function runTool(
  cluster: Cluster,
  ns: string,
  claims: string[],
  script: string,
): Promise<string> {
  const name = `tool-${++toolRuns}-${randomBytes(2).toString('hex')}`;
  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'tool',
              image: cluster.toolsImage,
              command: ['sh', '-c', script],
              volumeDevices: claims.map((_, i) => ({ name: `d${i}`, devicePath: `/dev/d${i}` })),
              terminationMessagePath: '/dev/termination-log',
            },
          ],
          volumes: claims.map((c, i) => ({ name: `d${i}`, persistentVolumeClaim: { claimName: c } })),
        },
      },
    },
  };
  await cluster.client.create(Kinds.Job, job);
  const done = await waitFor(`tool Job ${name}`, async () => {
    const j = await cluster.client.get(Kinds.Job, ns, name);
    const c = j.status?.conditions?.find(
      (x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True',
    );
    return c ? c.type : undefined;
  });
  const pods = await cluster.client.list(Kinds.Pod, ns, { labelSelector: `job-name=${name}` });
  const msg = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
  await cluster.client.delete(Kinds.Job, ns, name, { propagationPolicy: 'Background', ignoreNotFound: true });
  if (done !== 'Complete') throw new Error(`tool Job ${name} failed: ${msg}`);
  return msg.trim();
}

/** Fills each disk with random data. */
export async function fillRandom(cluster: Cluster, ns: string, claims: string[], mib: number): Promise<void> {
  const script = claims
    .map((_, i) => `dd if=/dev/urandom of=/dev/d${i} bs=1048576 count=${mib} conv=notrunc 2>/dev/null`)
    .join(' && ');
  await runTool(cluster, ns, claims, `${script} && echo ok > /dev/termination-log`);
}

/** Overwrites `count` blocks of 4 KiB at the given 4 KiB-aligned block indexes of one disk with random data. */
export async function scribble(cluster: Cluster, ns: string, claim: string, blocks: number[]): Promise<void> {
  const script = blocks
    .map((b) => `dd if=/dev/urandom of=/dev/d0 bs=4096 count=1 seek=${b} conv=notrunc 2>/dev/null`)
    .join(' && ');
  await runTool(cluster, ns, [claim], `${script} && echo ok > /dev/termination-log`);
}

/** sha256 of each disk, in order. */
export async function checksums(cluster: Cluster, ns: string, claims: string[]): Promise<string[]> {
  const script = claims
    .map((_, i) => `sha256sum /dev/d${i} | cut -c1-64 >> /dev/termination-log`)
    .join(' && ');
  const out = await runTool(cluster, ns, claims, script);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Applies a OneOffBackup. */
export async function oneOff(
  client: KubeClient,
  ns: string,
  name: string,
  spec: OneOffBackup['spec'],
): Promise<void> {
  await client.create(Kinds.OneOffBackup, {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'OneOffBackup',
    metadata: { name, namespace: ns },
    spec,
  } as OneOffBackup);
}

/** Waits for a OneOffBackup's single Backup to end, returning it. */
export async function backupOf(
  client: KubeClient,
  ns: string,
  oob: string,
  timeoutMs = 90_000,
): Promise<Backup> {
  const name = await waitFor(`OneOffBackup ${oob} to create its Backup`, async () => {
    const o = await client.get(Kinds.OneOffBackup, ns, oob);
    return o.status?.backups?.[0]?.name;
  });
  return waitFor(
    `Backup ${name} to end`,
    async () => {
      const b = await client.get(Kinds.Backup, ns, name);
      return b.status?.phase === 'Available' || b.status?.phase === 'Failed' ? b : undefined;
    },
    timeoutMs,
  );
}

/** Applies a Restore and waits for it to end. */
export async function restoreAndWait(
  client: KubeClient,
  ns: string,
  name: string,
  spec: Restore['spec'],
  timeoutMs = 90_000,
): Promise<Restore> {
  await client.create(Kinds.Restore, {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'Restore',
    metadata: { name, namespace: ns },
    spec,
  } as Restore);
  return waitFor(
    `Restore ${name} to end`,
    async () => {
      const r = await client.get(Kinds.Restore, ns, name);
      return r.status?.phase === 'Completed' || r.status?.phase === 'Failed' ? r : undefined;
    },
    timeoutMs,
  );
}

/** Objects the controller leaves behind in a namespace (children of backups and restores, server locks). */
export async function leftovers(client: KubeClient, ns: string): Promise<string[]> {
  const out: string[] = [];
  const sel = { labelSelector: MANAGED_SELECTOR };
  for (const j of (await client.list(Kinds.Job, ns, sel)).items) out.push(`Job/${j.metadata?.name}`);
  for (const p of (await client.list(Kinds.PersistentVolumeClaim, ns, sel)).items)
    out.push(`PVC/${p.metadata?.name}`);
  for (const s of (await client.list(Kinds.VolumeSnapshot, ns, sel)).items)
    out.push(`VolumeSnapshot/${s.metadata?.name}`);
  for (const l of (await client.list(Kinds.Lease, ns, sel)).items) out.push(`Lease/${l.metadata?.name}`);
  return out;
}

/** Waits for a BackupRepository to be Ready, failing at once if it turns Failed. */
export async function repositoryReady(
  cluster: Cluster,
  ns: string,
  name = 'repo',
): Promise<BackupRepository> {
  return waitFor(`BackupRepository ${name} Ready`, async () => {
    const r = await cluster.client.get(Kinds.BackupRepository, ns, name);
    if (r.status?.phase === 'Failed') throw new Error(`repository failed: ${r.status.message}`);
    return r.status?.phase === 'Ready' ? r : undefined;
  });
}

/**
 * Flips one byte every `every` bytes (from `first`) of each pack of a sandbox filesystem repository's
 * PVC; returns how many bytes it flipped.
 */
export async function corruptPacks(
  cluster: Cluster,
  ns: string,
  opts: { first: number; every: number },
  claim = 'repo-data',
): Promise<number> {
  const root = await (cluster.sandbox?.cluster as SimulatedCluster).volumePath(ns, claim);
  const files = (await readdir(join(root, 'data'), { recursive: true })).map((f) =>
    join(root, 'data', String(f)),
  );
  let flipped = 0;
  for (const f of files) {
    if (!(await stat(f)).isFile()) continue;
    const fh = await open(f, 'r+');
    const size = (await fh.stat()).size;
    for (let off = opts.first; off < size; off += opts.every) {
      const one = Buffer.alloc(1);
      await fh.read(one, 0, 1, off);
      one[0] ^= 0xff;
      await fh.write(one, 0, 1, off);
      flipped++;
    }
    await fh.close();
  }
  return flipped;
}

/** Replaces the repository key in its Secret with a wrong one; returns the Secret's data to put back. */
export async function breakRepositoryKey(client: KubeClient, ns: string, secret = 'repo-key') {
  const before = await client.get(Kinds.Secret, ns, secret);
  await client.patch(Kinds.Secret, ns, secret, {
    data: { 'repository-key': Buffer.from('wrong').toString('base64') },
  });
  return before.data;
}
