/**
 * `npm run bench controller [-- --servers=50 --concurrency=2 --disk-mib=8]`: the controller under a
 * burst. In the sandbox, N KubeVirt VMs (one Block disk each, a few MiB of data) share one filesystem
 * BackupRepository; N OneOffBackups are applied at once, and we measure the time until every Backup is
 * Available, the API requests the controller made per backup (counted at the sandbox API server, which
 * tells the controller apart by the token of its kubeconfig) and the controller's peak RSS (`VmHWM` of
 * the `csbs controller` child process). Writes `bench/results/controller.json` and `.md`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Backup } from '../src/api/types.js';
import { KubeClient } from '../src/runtime/client.js';
import { Kinds } from '../src/runtime/kinds.js';
import type { RequestCount } from '../src/sandbox/apiserver/index.js';
import type { SimulatedCluster } from '../src/sandbox/cluster/index.js';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { packageRoot } from '../src/version.js';

const NS = 'bench';
/** The controller's identity at the API server: the bearer token of its kubeconfig. */
const CONTROLLER_USER = 'csbs-controller';

interface Options {
  servers: number;
  concurrency: number;
  diskMiB: number;
  timeoutMs: number;
}

function parse(args: string[]): Options {
  const get = (name: string, def: number): number => {
    const a = args.find((x) => x.startsWith(`--${name}=`));
    if (!a) return def;
    const v = Number(a.split('=')[1]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${a}`);
    return v;
  };
  return {
    servers: get('servers', 50),
    concurrency: get('concurrency', 2),
    diskMiB: get('disk-mib', 8),
    timeoutMs: get('timeout-s', 900) * 1000,
  };
}

/** Peak and current resident memory of a process, from /proc. */
async function rss(pid: number): Promise<{ peakMiB: number; nowMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { peakMiB: kib('VmHWM') / 1024, nowMiB: kib('VmRSS') / 1024 };
}

/** A kubeconfig for the controller that names it by token, so its requests are counted apart. */
function controllerKubeconfig(url: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sandbox', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: CONTROLLER_USER, user: { token: CONTROLLER_USER } }],
    contexts: [{ name: 'controller', context: { cluster: 'sandbox', user: CONTROLLER_USER } }],
    'current-context': 'controller',
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

/** Runs the benchmark. */
export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const sb: Sandbox & { cluster?: SimulatedCluster } = await startSandbox();
  let controller: ChildProcess | undefined;
  try {
    if (!sb.cluster) throw new Error('the sandbox has no simulated cluster: nothing would run the backups');
    const client = new KubeClient(sb.kubeConfig());
    await client.create(Kinds.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await client.create(Kinds.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'repo-key', namespace: NS },
      stringData: { 'repository-key': randomBytes(32).toString('base64') },
    });
    const pvc = (name: string, mode: 'Block' | 'Filesystem', mib: number) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace: NS },
      spec: {
        accessModes: ['ReadWriteOnce'],
        volumeMode: mode,
        resources: { requests: { storage: `${mib}Mi` } },
      },
    });
    await client.create(Kinds.PersistentVolumeClaim, pvc('repo-data', 'Filesystem', 4096));
    await client.create(Kinds.BackupRepository, {
      apiVersion: 'csbs.dev/v1alpha1',
      kind: 'BackupRepository',
      metadata: { name: 'repo', namespace: NS },
      spec: {
        backend: { filesystem: { persistentVolumeClaim: { claimName: 'repo-data' } } },
        encryption: { keySecretRef: { name: 'repo-key' } },
      },
    } as never);
    const vms = Array.from({ length: o.servers }, (_, i) => `vm-${String(i + 1).padStart(3, '0')}`);
    for (const vm of vms) {
      await client.create(Kinds.PersistentVolumeClaim, pvc(`${vm}-disk`, 'Block', o.diskMiB));
      await client.create(Kinds.VirtualMachine, {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name: vm, namespace: NS },
        spec: {
          runStrategy: 'Always',
          template: {
            spec: {
              domain: { devices: { disks: [{ name: 'disk', disk: { bus: 'virtio' } }] } },
              volumes: [{ name: 'disk', persistentVolumeClaim: { claimName: `${vm}-disk` } }],
            },
          },
        },
      });
    }
    // Set-up only (not measured): a quarter of each disk gets random data.
    const until = async (what: string, probe: () => Promise<boolean>, ms = 120_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!(await probe())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await until('disks Bound', async () => {
      const l = await client.list(Kinds.PersistentVolumeClaim, NS);
      return l.items.filter((p) => p.status?.phase === 'Bound').length === o.servers + 1;
    });
    for (const vm of vms) {
      const f = await open(await sb.cluster.volumePath(NS, `${vm}-disk`), 'r+');
      await f.write(randomBytes((o.diskMiB * 1024 * 1024) / 4), 0, undefined, 0);
      await f.close();
    }

    const kubeconfig = join(sb.stateDir, 'controller.kubeconfig');
    await writeFile(kubeconfig, controllerKubeconfig(sb.url), { mode: 0o600 });
    const proc = spawn(
      process.execPath,
      [
        join(packageRoot, 'dist', 'src', 'main.js'),
        'controller',
        '--kubeconfig',
        kubeconfig,
        '--metrics-bind-address',
        '0',
        '--health-probe-bind-address',
        '0',
        '--concurrency',
        String(o.concurrency),
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    controller = proc;
    let controllerErr = '';
    proc.stdout.resume();
    proc.stderr.on('data', (c: Buffer) => (controllerErr = (controllerErr + c.toString()).slice(-4000)));
    await until(
      'BackupRepository repo Ready',
      async () => (await client.get(Kinds.BackupRepository, NS, 'repo')).status?.phase === 'Ready',
    );
    const idle = await rss(proc.pid!);

    // The burst: every OneOffBackup at once.
    const requestsBefore = sb.apiServer.requests.snapshot().filter((c) => c.user === CONTROLLER_USER);
    const started = Date.now();
    await Promise.all(
      vms.map((vm) =>
        client.create(Kinds.OneOffBackup, {
          apiVersion: 'csbs.dev/v1alpha1',
          kind: 'OneOffBackup',
          metadata: { name: `now-${vm}`, namespace: NS },
          spec: { server: { kind: 'VirtualMachine', name: vm } },
        } as never),
      ),
    );
    const availableAt = new Map<string, number>();
    let peakMiB = 0;
    let failed: Backup[] = [];
    for (;;) {
      peakMiB = Math.max(peakMiB, (await rss(proc.pid!)).peakMiB);
      const backups = (await client.list(Kinds.Backup, NS)).items;
      for (const b of backups)
        if (b.status?.phase === 'Available' && !availableAt.has(b.metadata.name ?? ''))
          availableAt.set(b.metadata.name ?? '', Date.now() - started);
      failed = backups.filter((b) => b.status?.phase === 'Failed');
      if (availableAt.size + failed.length >= o.servers) break;
      if (proc.exitCode !== null)
        throw new Error(`csbs controller exited ${proc.exitCode}: ${controllerErr}`);
      if (Date.now() - started > o.timeoutMs)
        throw new Error(
          `timed out: ${availableAt.size}/${o.servers} Available after ${o.timeoutMs / 1000} s`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (Date.now() - started) / 1000;
    const requestsAfter = sb.apiServer.requests.snapshot().filter((c) => c.user === CONTROLLER_USER);
    const end = await rss(proc.pid!);
    peakMiB = Math.max(peakMiB, end.peakMiB);

    const delta = new Map<string, RequestCount>();
    for (const c of requestsAfter) delta.set(`${c.verb} ${c.resource}`, { ...c });
    for (const c of requestsBefore) {
      const d = delta.get(`${c.verb} ${c.resource}`);
      if (d) d.count -= c.count;
    }
    const byVerbResource = [...delta.values()].filter((c) => c.count > 0).sort((a, b) => b.count - a.count);
    const totalRequests = byVerbResource.reduce((s, c) => s + c.count, 0);
    const times = [...availableAt.values()].sort((a, b) => a - b).map((ms) => ms / 1000);
    const report = {
      benchmark: 'controller',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, loadAverage1m: round(loadavg()[0]), node: process.version },
      settings: {
        servers: o.servers,
        disksPerServer: 1,
        diskMiB: o.diskMiB,
        concurrency: o.concurrency,
        leaderElection: true,
        controller: '`csbs controller` child process, production settings (2 s polls)',
      },
      results: {
        available: availableAt.size,
        failed: failed.map((b) => `${b.metadata.name}: ${b.status?.message ?? ''}`),
        secondsToAllAvailable: round(seconds),
        secondsToFirstAvailable: round(times[0] ?? NaN),
        secondsToMedianAvailable: round(percentile(times, 50)),
        apiRequests: totalRequests,
        apiRequestsPerBackup: round(totalRequests / o.servers),
        requestsByVerbAndResource: byVerbResource.map((c) => ({
          verb: c.verb,
          resource: c.resource,
          count: c.count,
        })),
        controllerIdleRssMiB: round(idle.nowMiB),
        controllerPeakRssMiB: round(peakMiB),
      },
    };
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'controller.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(dir, 'controller.md'), markdown(report));
    process.stdout.write(markdown(report));
    if (failed.length > 0)
      throw new Error(`${failed.length} backup(s) failed: ${report.results.failed.join('; ')}`);
  } finally {
    if (controller && controller.exitCode === null) {
      const exited = new Promise((r) => controller!.once('exit', r));
      controller.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (controller.exitCode === null) controller.kill('SIGKILL');
    }
    await sb.stop();
  }
}

type Report = {
  date: string;
  machine: { cpus: number; loadAverage1m: number; node: string };
  settings: { servers: number; diskMiB: number; concurrency: number };
  results: {
    available: number;
    failed: string[];
    secondsToAllAvailable: number;
    secondsToFirstAvailable: number;
    secondsToMedianAvailable: number;
    apiRequests: number;
    apiRequestsPerBackup: number;
    requestsByVerbAndResource: { verb: string; resource: string; count: number }[];
    controllerIdleRssMiB: number;
    controllerPeakRssMiB: number;
  };
};

function markdown(r: Report): string {
  const s = r.settings;
  const x = r.results;
  const lines = [
    '# Controller benchmark',
    '',
    `${s.servers} KubeVirt VMs (one ${s.diskMiB} MiB Block disk each, a quarter random data) in the sandbox, one`,
    'filesystem BackupRepository; one OneOffBackup per VM applied at once; `csbs controller` as a child process',
    `with production settings, leader election on, \`--concurrency ${s.concurrency}\`. Each backup is a real`,
    'freeze, CSI snapshot, temporary PVC and mover Job (a `csbs mover backup` process in the simulated kubelet).',
    `Run ${r.date} on ${r.machine.cpus} CPUs (load average ${r.machine.loadAverage1m} when it ended), Node ${r.machine.node}.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| backups Available | ${x.available} / ${s.servers}${x.failed.length ? ` (${x.failed.length} failed)` : ''} |`,
    `| time to all Available | ${x.secondsToAllAvailable} s |`,
    `| time to first / median Available | ${x.secondsToFirstAvailable} s / ${x.secondsToMedianAvailable} s |`,
    `| API requests by the controller | ${x.apiRequests} (${x.apiRequestsPerBackup} per backup) |`,
    `| controller RSS idle / peak | ${x.controllerIdleRssMiB} MiB / ${x.controllerPeakRssMiB} MiB |`,
    '',
    'Requests by verb and resource (the controller only, counted at the sandbox API server):',
    '',
    '| verb | resource | requests | per backup |',
    '| --- | --- | ---: | ---: |',
    ...x.requestsByVerbAndResource.map(
      (c) => `| ${c.verb} | ${c.resource} | ${c.count} | ${round(c.count / s.servers)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
