/**
 * The `csbs demo` scenario: the whole product once, on the embedded sandbox, step by step. A VM with two
 * disks is backed up (Full), a few MiB of one disk change, a second backup uploads only those blocks
 * (Incremental), the first backup is restored in place, and the disks' checksums must equal the
 * originals. Everything goes through the Kubernetes API with the real controller and mover Jobs.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backup, BackupRepository, OneOffBackup, Restore } from '../api/types.js';
import { createReconcilers, defaultSettings } from '../controllers/index.js';
import { KubeClient } from '../runtime/client.js';
import { Kinds } from '../runtime/kinds.js';
import { createLogger } from '../runtime/logging.js';
import { Manager } from '../runtime/manager.js';
import type { SimulatedCluster } from '../sandbox/cluster/index.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { version } from '../version.js';
import { formatBytes, Reporter, waitUntil, type StepContext } from './report.js';
import { renderTable, TABLE_ACCEPT, type Table } from './table.js';
import {
  claim,
  DEMO_DISKS,
  diskImage,
  guestWrites,
  importJob,
  sha256,
  virtualMachine,
  VM_NAME,
} from './workloads.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Keep the sandbox and the controller running at the end until `untilStopped` resolves. */
  keep?: boolean;
  /** Sandbox state directory (default: a temporary one, removed at the end). */
  stateDir?: string;
  /** Where the steps are printed (default stdout). */
  reporter?: Reporter;
  /** With `keep`: resolves when the user wants to stop (the CLI: on SIGINT or SIGTERM). */
  untilStopped?: () => Promise<void>;
}

/** The namespace the demo works in. */
export const DEMO_NAMESPACE = 'csbs-demo';

const MiB = 1 << 20;
/** What the guest changes between the two backups: 16 runs of 256 KiB = 4 MiB of the root disk. */
const CHANGED_PIECES = 16;
const CHANGED_PIECE_BYTES = 256 * 1024;

/** Step deadlines: generous for a slow laptop, short enough that a stuck step ends the demo. */
const TIMEOUT = { start: 30_000, setup: 30_000, backup: 60_000, restore: 60_000, check: 15_000 };

/** A Sandbox whose simulated cluster (storage, snapshots, Jobs, KubeVirt) runs. */
type ClusterSandbox = Sandbox & { cluster?: SimulatedCluster };

/** Runs the demo; resolves when every step passed, rejects with the failing step's reason otherwise. */
export async function runDemo(options: DemoOptions = {}): Promise<void> {
  const r = options.reporter ?? new Reporter();
  const ns = DEMO_NAMESPACE;
  r.line(
    `csbs demo ${version}: back up, change, back up again and restore a KubeVirt VM on the embedded sandbox`,
  );

  let sb: ClusterSandbox | undefined;
  let manager: Manager | undefined;
  let logStream: WriteStream | undefined;
  let logPath = '';
  const stopAll = async (): Promise<void> => {
    await manager?.stop().catch(() => undefined);
    await new Promise<void>((resolve) => (logStream ? logStream.end(resolve) : resolve()));
    await sb?.stop();
  };
  try {
    sb = await r.step(
      'start the sandbox: Kubernetes API, storage, CSI snapshots, Jobs, KubeVirt',
      TIMEOUT.start,
      async (s) => {
        const started: ClusterSandbox = await startSandbox(
          options.stateDir ? { stateDir: options.stateDir } : {},
        );
        if (!started.cluster) {
          await started.stop();
          throw new Error('the sandbox started without its simulated cluster (no storage, Jobs or KubeVirt)');
        }
        s.detail(`API at ${started.url}, state in ${started.stateDir}`);
        return started;
      },
    );
    const sandbox = sb;
    const cluster = sb.cluster!;
    const kc = sb.kubeConfig();
    const client = new KubeClient(kc);

    manager = await r.step(
      'start the controller: the csbs reconcilers in the real Manager',
      TIMEOUT.start,
      async (s) => {
        logPath = join(sandbox.stateDir, 'controller.log');
        logStream = createWriteStream(logPath);
        const settings = defaultSettings(version);
        // Backup and restore progress is read from the mover's log; the demo wants it often.
        settings.pollMs = 250;
        const m = new Manager({
          kubeConfig: kc,
          leaderElection: { enabled: false },
          concurrency: 2,
          logger: createLogger({
            stream: logStream,
            level: process.env.CSBS_DEMO_LOG_LEVEL === 'debug' ? 'debug' : 'info',
            defaultMeta: { component: 'controller' },
          }),
        });
        const reconcilers = createReconcilers(settings);
        for (const rec of reconcilers) m.add(rec);
        await m.start();
        await m.waitForCacheSync();
        s.detail(`controllers: ${reconcilers.map((x) => x.name).join(', ')}; log: ${logPath}`);
        return m;
      },
    );

    await r.step(
      `create namespace ${ns}, the repository key Secret and a filesystem BackupRepository`,
      TIMEOUT.setup,
      async (s) => {
        await client.create(Kinds.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
        await client.create(Kinds.Secret, {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'repo-key', namespace: ns },
          // The repository's encryption key: never printed, only referenced.
          stringData: { 'repository-key': randomBytes(32).toString('base64') },
        });
        await client.create(Kinds.PersistentVolumeClaim, claim(ns, 'repo-data', 'Filesystem', 1024));
        const repo: BackupRepository = {
          apiVersion: 'csbs.dev/v1alpha1',
          kind: 'BackupRepository',
          metadata: { name: 'repo', namespace: ns },
          spec: {
            backend: { filesystem: { persistentVolumeClaim: { claimName: 'repo-data' } } },
            encryption: { keySecretRef: { name: 'repo-key' } },
          },
        } as BackupRepository;
        await client.create(Kinds.BackupRepository, repo);
        s.waitingFor('BackupRepository repo to become Ready');
        const ready = await waitUntil(s.signal, async () => {
          const x = await client.get(Kinds.BackupRepository, ns, 'repo');
          if (x.status?.phase === 'Failed')
            throw new Error(`BackupRepository repo failed: ${x.status.message ?? ''}`);
          return x.status?.phase === 'Ready' ? x : undefined;
        });
        s.detail(
          `BackupRepository repo: Ready (block size ${formatBytes(ready.spec.blockSize)}, ${ready.spec.compression ?? 'zstd'}, encrypted)`,
        );
      },
    );

    const originals = await r.step(
      `create VirtualMachine ${VM_NAME} with a Block and a Filesystem disk, filled by an import Job`,
      TIMEOUT.setup,
      async (s) => {
        for (const d of DEMO_DISKS)
          await client.create(Kinds.PersistentVolumeClaim, claim(ns, d.claim, d.mode, d.sizeMiB));
        s.waitingFor('the disks PVCs to be Bound');
        await waitUntil(s.signal, async () => {
          for (const d of DEMO_DISKS) {
            const p = await client.get(Kinds.PersistentVolumeClaim, ns, d.claim);
            if (p.status?.phase !== 'Bound') return undefined;
          }
          return true;
        });
        await runJob(client, s, importJob(ns, `${VM_NAME}-import`, DEMO_DISKS));
        await client.create(Kinds.VirtualMachine, virtualMachine(ns, DEMO_DISKS));
        s.waitingFor(`VirtualMachine ${VM_NAME} to be Running`);
        await waitUntil(s.signal, async () => {
          const vm = await client.get(Kinds.VirtualMachine, ns, VM_NAME);
          return (vm.status as { printableStatus?: string } | undefined)?.printableStatus === 'Running'
            ? true
            : undefined;
        });
        const sums = await diskChecksums(cluster, ns);
        for (const [i, d] of DEMO_DISKS.entries())
          s.detail(`${d.claim}: ${d.mode}, ${d.sizeMiB} MiB, sha256 ${short(sums[i])}`);
        s.detail(`VirtualMachine ${VM_NAME}: Running`);
        return sums;
      },
    );

    const full = await r.step(
      `apply OneOffBackup first: the first backup of ${VM_NAME} is Full`,
      TIMEOUT.backup,
      async (s) => {
        const b = await oneOffBackup(client, s, ns, 'first');
        if (b.status?.type !== 'Full')
          throw new Error(`Backup ${b.spec.backupName} is ${b.status?.type ?? 'untyped'}, expected Full`);
        const t = b.status.totals ?? {};
        s.detail(
          `${b.spec.backupName}: Full, ${formatBytes(t.sizeBytes)} of disks, ${formatBytes(t.uploadedBytes)} uploaded after dedup + compression, ${b.status.consistency ?? ''}`,
        );
        return b;
      },
    );

    const root = DEMO_DISKS[0];
    const written = await r.step(
      `the guest of ${VM_NAME} writes 4 MiB to its ${root.name} disk`,
      TIMEOUT.check,
      async (s) => {
        const path = diskImage(await cluster.volumePath(ns, root.claim), root);
        const n = await guestWrites(path, root.sizeMiB * MiB, CHANGED_PIECES, CHANGED_PIECE_BYTES);
        s.detail(
          `${formatBytes(n)} in ${CHANGED_PIECES} runs of ${formatBytes(CHANGED_PIECE_BYTES)} spread over ${root.claim}`,
        );
        return n;
      },
    );

    await r.step(
      'apply OneOffBackup second: Incremental, only the changed blocks are uploaded',
      TIMEOUT.backup,
      async (s) => {
        const b = await oneOffBackup(client, s, ns, 'second');
        const t = b.status?.totals ?? {};
        if (b.status?.type !== 'Incremental')
          throw new Error(
            `Backup ${b.spec.backupName} is ${b.status?.type ?? 'untyped'}, expected Incremental`,
          );
        if (b.status.parentBackup !== full.metadata.name)
          throw new Error(
            `Backup ${b.spec.backupName} has parent ${b.status.parentBackup ?? 'none'}, expected ${full.metadata.name}`,
          );
        s.detail(
          `${b.spec.backupName}: Incremental on ${full.spec.backupName}, ${formatBytes(t.changedBytes)} changed, ${formatBytes(t.uploadedBytes)} uploaded of ${formatBytes(t.sizeBytes)}`,
        );
        // Random data does not compress: the upload is about what changed, and far below a full one.
        const uploaded = t.uploadedBytes ?? Infinity;
        if (uploaded > written * 1.5 + MiB)
          throw new Error(
            `the incremental uploaded ${formatBytes(uploaded)} for ${formatBytes(written)} changed: not only the changed blocks`,
          );
        if (t.changedBytes !== undefined && t.changedBytes < written)
          throw new Error(
            `the incremental counts ${formatBytes(t.changedBytes)} changed, but the guest wrote ${formatBytes(written)}`,
          );
        return b;
      },
    );

    await r.step(
      `apply Restore of ${full.spec.backupName} in place: stop the VM, rewrite changed blocks, start it`,
      TIMEOUT.restore,
      async (s) => {
        const restore: Restore = {
          apiVersion: 'csbs.dev/v1alpha1',
          kind: 'Restore',
          metadata: { name: 'back-to-first', namespace: ns },
          spec: { backupRef: { name: full.metadata.name ?? '' } },
        } as Restore;
        await client.create(Kinds.Restore, restore);
        s.waitingFor('Restore back-to-first to complete');
        const done = await followPhases(
          s,
          'Restore back-to-first',
          () => client.get(Kinds.Restore, ns, 'back-to-first'),
          ['Completed', 'Failed'],
        );
        if (done.status?.phase !== 'Completed')
          throw new Error(`Restore back-to-first failed: ${done.status?.message ?? 'no message'}`);
        const bytes = (done.status.volumes ?? []).reduce((sum, v) => sum + (v.restoredBytes ?? 0), 0);
        s.detail(`${formatBytes(bytes)} written back to ${(done.status.volumes ?? []).length} disks`);
        s.waitingFor(`VirtualMachine ${VM_NAME} to run again`);
        await waitUntil(s.signal, async () => {
          const vm = await client.get(Kinds.VirtualMachine, ns, VM_NAME);
          return (vm.status as { printableStatus?: string } | undefined)?.printableStatus === 'Running'
            ? true
            : undefined;
        });
        s.detail(`VirtualMachine ${VM_NAME}: Running`);
      },
    );

    await r.step(`check the disks of ${VM_NAME} against the first backup`, TIMEOUT.check, async (s) => {
      const now = await diskChecksums(cluster, ns);
      const bad: string[] = [];
      for (const [i, d] of DEMO_DISKS.entries()) {
        const same = now[i] === originals[i];
        s.detail(
          `${d.claim}: sha256 ${short(now[i])} ${same ? 'matches' : `DIFFERS from ${short(originals[i])}`}`,
        );
        if (!same) bad.push(d.claim);
      }
      if (bad.length > 0)
        throw new Error(`after the restore ${bad.join(' and ')} differ from the first backup`);
    });

    r.line();
    r.line(`$ kubectl -n ${ns} get backups`);
    const table = await client.request<Table>({
      method: 'GET',
      path: `/apis/csbs.dev/v1alpha1/namespaces/${ns}/backups`,
      accept: TABLE_ACCEPT,
    });
    for (const line of renderTable(table)) r.line(line);
    r.line();
    r.line(`demo passed in ${(r.elapsedMs() / 1000).toFixed(1)}s`);

    if (options.keep) {
      r.line();
      r.line('The sandbox and the controller keep running; Ctrl-C stops them. In another shell:');
      r.line(`export KUBECONFIG=${sandbox.kubeconfigPath}`);
      r.line(`kubectl -n ${ns} get virtualmachines,backups,oneoffbackups,restores`);
      r.line(`(controller log: ${logPath})`);
      await (options.untilStopped ?? (() => new Promise<void>(() => undefined)))();
    }
  } catch (err) {
    if (logPath) await printControllerErrors(r, logPath);
    throw err;
  } finally {
    await stopAll();
  }
}

/** First 16 hex digits of a digest. */
function short(digest: string): string {
  return `${digest.slice(0, 16)}...`;
}

/** sha256 of each demo disk, read from the sandbox's volumes. */
async function diskChecksums(cluster: SimulatedCluster, ns: string): Promise<string[]> {
  return Promise.all(
    DEMO_DISKS.map(async (d) => sha256(diskImage(await cluster.volumePath(ns, d.claim), d))),
  );
}

/** Creates a Job, waits for it to complete (or fails with its pod's message), then deletes it. */
async function runJob(
  client: KubeClient,
  s: StepContext,
  job: import('@kubernetes/client-node').V1Job,
): Promise<void> {
  const name = job.metadata?.name ?? '';
  const ns = job.metadata?.namespace ?? '';
  await client.create(Kinds.Job, job);
  s.waitingFor(`Job ${name} to finish`);
  const result = await waitUntil(s.signal, async () => {
    const j = await client.get(Kinds.Job, ns, name);
    const c = j.status?.conditions?.find(
      (x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True',
    );
    return c?.type;
  });
  const pods = await client.list(Kinds.Pod, ns, { labelSelector: `job-name=${name}` });
  const message = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated?.message?.trim() ?? '';
  if (result !== 'Complete') throw new Error(`Job ${name} failed: ${message || 'no termination message'}`);
  s.detail(`Job ${name}: Complete (${message})`);
  await client.delete(Kinds.Job, ns, name, { propagationPolicy: 'Background', ignoreNotFound: true });
}

/** Applies a OneOffBackup of the demo VM and follows its Backup to Available; rejects if it fails. */
async function oneOffBackup(client: KubeClient, s: StepContext, ns: string, name: string): Promise<Backup> {
  const request: OneOffBackup = {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'OneOffBackup',
    metadata: { name, namespace: ns },
    spec: { server: { kind: 'VirtualMachine', name: VM_NAME }, description: `csbs demo: ${name} backup` },
  } as OneOffBackup;
  await client.create(Kinds.OneOffBackup, request);
  s.waitingFor(`OneOffBackup ${name} to create its Backup`);
  const backupName = await waitUntil(s.signal, async () => {
    const o = await client.get(Kinds.OneOffBackup, ns, name);
    if (o.status?.phase === 'Failed')
      throw new Error(`OneOffBackup ${name} failed: ${o.status.message ?? ''}`);
    return o.status?.backups?.[0]?.name;
  });
  s.waitingFor(`Backup ${backupName} to become Available`);
  // The request records the name before it creates the Backup: until then there is nothing to follow.
  const b = await followPhases(s, `Backup ${backupName}`, () => client.tryGet(Kinds.Backup, ns, backupName), [
    'Available',
    'Failed',
  ]);
  if (b.status?.phase !== 'Available')
    throw new Error(`Backup ${b.spec.backupName} failed: ${b.status?.message ?? 'no message'}`);
  return b;
}

/** Polls an object, printing each new phase (with its message) until it reaches one of `final`. */
async function followPhases<T extends { status?: { phase?: string; message?: string } }>(
  s: StepContext,
  what: string,
  get: () => Promise<T | undefined>,
  final: string[],
): Promise<T> {
  let last = '';
  return waitUntil(s.signal, async () => {
    const obj = await get();
    if (!obj) return undefined;
    const phase = obj.status?.phase ?? 'Pending';
    if (phase !== last) {
      s.detail(`${what}: ${phase}${obj.status?.message ? ` - ${obj.status.message}` : ''}`);
      last = phase;
    }
    return final.includes(phase) ? obj : undefined;
  });
}

/** The controller's warnings and errors, so a failed demo shows why without digging. */
async function printControllerErrors(r: Reporter, logPath: string): Promise<void> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  const problems = text
    .split('\n')
    .filter((l) => /"level":"(warn|error)"/.test(l))
    .slice(-8);
  if (problems.length === 0) return;
  r.line('last controller warnings and errors:');
  for (const l of problems) r.line(`  ${l.length > 400 ? `${l.slice(0, 400)}...` : l}`);
}
