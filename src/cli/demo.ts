/**
 * `csbs demo`: the README's first command. On the embedded sandbox it runs the whole product once: a VM
 * with two disks, a filesystem repository, the controller, a full backup, a few MiB changed, an
 * incremental that uploads only those blocks, a restore of the first backup, and a check that the disks'
 * checksums are those of the first backup. Each step is printed as it happens; the exit code says
 * whether every step worked. `--keep` leaves the sandbox and the controller running for kubectl.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Command } from 'commander';

/** Options of `csbs demo`. */
interface DemoOptions {
  keep?: boolean;
  diskMib: string;
  stateDir?: string;
}

/** `csbs demo [--keep] [--disk-mib N] [--state-dir DIR]`. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run backup -> incremental -> restore end to end on the embedded sandbox cluster')
    .option('--keep', 'leave the sandbox and the controller running, and print the KUBECONFIG to use')
    .option('--disk-mib <n>', 'size of each demo disk in MiB', '64')
    .option('--state-dir <dir>', 'keep the sandbox state here (default: a temporary directory)')
    .action(async (opts: DemoOptions) => {
      try {
        await runDemo(opts);
      } catch (err) {
        console.error(`demo failed: ${(err as Error).message}`);
        process.exit(1);
      }
    });
}

const NS = 'demo';
const MiB = 1 << 20;

function human(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n >= MiB) return `${(n / MiB).toFixed(1)}Mi`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)}Ki`;
  return `${n}B`;
}

function age(t: string | undefined, now: number): string {
  if (!t) return '-';
  const s = Math.max(0, Math.round((now - new Date(t).getTime()) / 1000));
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  const f = await open(path, 'r');
  try {
    for await (const chunk of f.createReadStream()) h.update(chunk as Buffer);
  } finally {
    await f.close();
  }
  return h.digest('hex');
}

/** Writes demo data: random, zero and repetitive regions, as real disks have. */
async function fillDisk(path: string, bytes: number, seed: number): Promise<void> {
  const f = await open(path, 'r+');
  try {
    for (let off = 0; off < bytes; off += MiB) {
      const kind = (off / MiB + seed) % 4;
      if (kind === 3) continue; // a hole of zeros
      const chunk = kind === 2 ? Buffer.alloc(MiB, `csbs demo ${seed} `) : randomBytes(MiB);
      await f.write(chunk, 0, chunk.length, off);
    }
  } finally {
    await f.close();
  }
}

/** Overwrites `count` scattered 64 KiB pieces (a few MiB of changes). */
async function changeDisk(path: string, bytes: number, count: number): Promise<number> {
  const f = await open(path, 'r+');
  try {
    for (let i = 0; i < count; i++)
      await f.write(randomBytes(64 * 1024), 0, 64 * 1024, ((i * 7919) % (bytes / (64 * 1024))) * 64 * 1024);
  } finally {
    await f.close();
  }
  return count * 64 * 1024;
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const diskBytes = Number(opts.diskMib) * MiB;
  if (!Number.isInteger(diskBytes) || diskBytes < MiB)
    throw new Error(`--disk-mib ${opts.diskMib}: give a whole number of MiB >= 1`);
  const step = (msg: string) => console.log(`==> ${msg}`);
  const started = Date.now();
  // Loaded lazily: `csbs mover` in Jobs must not pay for the sandbox and the controllers.
  const { startSandbox } = await import('../sandbox/index.js');
  const { KubeClient } = await import('../runtime/client.js');
  const { Kinds } = await import('../runtime/kinds.js');
  const { Manager } = await import('../runtime/manager.js');
  const { createReconcilers, defaultSettings } = await import('../controllers/index.js');
  const { version } = await import('../version.js');

  step('starting the sandbox cluster (Kubernetes API, storage, snapshots, Jobs, KubeVirt)');
  const sb = await startSandbox(opts.stateDir ? { stateDir: opts.stateDir } : {});
  const cluster = (sb as typeof sb & { cluster?: import('../sandbox/cluster/index.js').SimulatedCluster })
    .cluster;
  if (!cluster) {
    await sb.stop();
    throw new Error('the sandbox started without its simulated cluster (storage, Jobs, KubeVirt)');
  }
  const kc = sb.kubeConfig();
  const client = new KubeClient(kc);
  const settings = defaultSettings(version);
  settings.pollMs = 250;
  const manager = new Manager({ kubeConfig: kc, leaderElection: { enabled: false } });
  let keep = false;
  try {
    step('starting the controller');
    for (const r of createReconcilers(settings)) manager.add(r);
    await manager.start();

    const wait = async <T>(
      what: string,
      probe: () => Promise<T | undefined>,
      timeoutMs = 300_000,
    ): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    step(`creating namespace ${NS}, a filesystem BackupRepository and its key Secret`);
    await client.create(Kinds.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await client.create(Kinds.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'repo-key', namespace: NS },
      stringData: { 'repository-key': randomBytes(32).toString('base64') },
    });
    const pvc = (name: string, size: string, block: boolean) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace: NS },
      spec: {
        accessModes: ['ReadWriteOnce'],
        volumeMode: block ? 'Block' : 'Filesystem',
        resources: { requests: { storage: size } },
      },
    });
    await client.create(
      Kinds.PersistentVolumeClaim,
      pvc('repo-data', `${4 * Number(opts.diskMib)}Mi`, false),
    );
    await client.create(Kinds.BackupRepository, {
      apiVersion: 'csbs.dev/v1alpha1',
      kind: 'BackupRepository',
      metadata: { name: 'repo', namespace: NS },
      spec: {
        backend: { filesystem: { persistentVolumeClaim: { claimName: 'repo-data' } } },
        encryption: { keySecretRef: { name: 'repo-key' } },
      },
    });

    step(`creating VirtualMachine web-1 with two ${opts.diskMib} MiB disks holding data`);
    const disks = ['web-1-root', 'web-1-data'];
    for (const d of disks)
      await client.create(Kinds.PersistentVolumeClaim, pvc(d, `${opts.diskMib}Mi`, true));
    for (const d of disks)
      await wait(`PVC ${d} Bound`, async () =>
        (await client.get(Kinds.PersistentVolumeClaim, NS, d)).status?.phase === 'Bound' ? true : undefined,
      );
    const paths = await Promise.all(disks.map((d) => cluster.volumePath(NS, d)));
    await Promise.all(paths.map((p, i) => fillDisk(p, diskBytes, i)));
    await client.create(Kinds.VirtualMachine, {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'web-1', namespace: NS },
      spec: {
        runStrategy: 'Always',
        template: {
          spec: {
            domain: {
              devices: {
                disks: [
                  { name: 'root', disk: { bus: 'virtio' } },
                  { name: 'data', disk: { bus: 'virtio' } },
                ],
              },
            },
            volumes: [
              { name: 'root', persistentVolumeClaim: { claimName: disks[0] } },
              { name: 'data', persistentVolumeClaim: { claimName: disks[1] } },
            ],
          },
        },
      },
    });
    const original = await Promise.all(paths.map(sha256File));
    await wait('BackupRepository repo Ready', async () => {
      const r = await client.get(Kinds.BackupRepository, NS, 'repo');
      if (r.status?.phase === 'Failed') throw new Error(`repository failed: ${r.status.message}`);
      return r.status?.phase === 'Ready' ? r : undefined;
    });

    const backup = async (name: string) => {
      await client.create(Kinds.OneOffBackup, {
        apiVersion: 'csbs.dev/v1alpha1',
        kind: 'OneOffBackup',
        metadata: { name, namespace: NS },
        spec: { server: { kind: 'VirtualMachine', name: 'web-1' } },
      });
      const bname = await wait(
        `OneOffBackup ${name}`,
        async () => (await client.get(Kinds.OneOffBackup, NS, name)).status?.backups?.[0]?.name,
      );
      let last = '';
      const b = await wait(`Backup ${bname}`, async () => {
        const x = await client.get(Kinds.Backup, NS, bname);
        const phase = x.status?.phase ?? 'Pending';
        if (phase !== last) {
          console.log(
            `    ${x.spec.backupName}: ${phase}${x.status?.message ? ` (${x.status.message})` : ''}`,
          );
          last = phase;
        }
        return phase === 'Available' || phase === 'Failed' ? x : undefined;
      });
      if (b.status?.phase !== 'Available')
        throw new Error(`backup ${b.spec.backupName} failed: ${b.status?.message}`);
      return b;
    };

    step('applying OneOffBackup before-upgrade (the first backup of web-1: Full)');
    const full = await backup('before-upgrade');
    console.log(
      `    ${full.spec.backupName}: ${full.status?.type}, ${human(full.status?.totals?.sizeBytes)} of disks, ${human(full.status?.totals?.uploadedBytes)} stored (${full.status?.consistency})`,
    );

    step('changing a few MiB of the root disk');
    const changed = await changeDisk(paths[0], diskBytes, 48);
    console.log(`    wrote ${human(changed)} at scattered offsets`);

    step('applying OneOffBackup after-upgrade (Incremental: only the changed blocks are uploaded)');
    const inc = await backup('after-upgrade');
    console.log(
      `    ${inc.spec.backupName}: ${inc.status?.type} against ${inc.status?.parentBackup}, ${human(inc.status?.totals?.changedBytes)} changed, ${human(inc.status?.totals?.uploadedBytes)} uploaded`,
    );
    if (inc.status?.type !== 'Incremental')
      throw new Error(`the second backup is ${inc.status?.type}, expected Incremental`);

    step(`restoring ${full.spec.backupName} in place (VM stopped, changed blocks rewritten, VM started)`);
    await client.create(Kinds.Restore, {
      apiVersion: 'csbs.dev/v1alpha1',
      kind: 'Restore',
      metadata: { name: 'roll-back', namespace: NS },
      spec: { backupRef: { name: full.metadata.name ?? '' } },
    });
    let lastPhase = '';
    const restore = await wait('Restore roll-back', async () => {
      const r = await client.get(Kinds.Restore, NS, 'roll-back');
      const phase = r.status?.phase ?? 'Pending';
      if (phase !== lastPhase) {
        console.log(`    roll-back: ${phase}${r.status?.message ? ` (${r.status.message})` : ''}`);
        lastPhase = phase;
      }
      return phase === 'Completed' || phase === 'Failed' ? r : undefined;
    });
    if (restore.status?.phase !== 'Completed') throw new Error(`restore failed: ${restore.status?.message}`);

    step('checking the disks against the first backup');
    const now = await Promise.all(paths.map(sha256File));
    for (const [i, d] of disks.entries()) {
      const ok = now[i] === original[i];
      console.log(
        `    ${d}: sha256 ${now[i].slice(0, 16)}... ${ok ? 'matches' : `DIFFERS from ${original[i].slice(0, 16)}...`}`,
      );
      if (!ok) throw new Error(`disk ${d} does not match the first backup after the restore`);
    }

    step('kubectl get backups');
    const list = (await client.list(Kinds.Backup, NS)).items;
    const rows = [['NAME', 'SERVER', 'TYPE', 'PHASE', 'SIZE', 'UPLOADED', 'AGE']];
    for (const b of list)
      rows.push([
        b.spec.backupName,
        `${b.spec.server.kind}/${b.spec.server.name}`,
        b.status?.type ?? '',
        b.status?.phase ?? 'Pending',
        human(b.status?.totals?.sizeBytes),
        human(b.status?.totals?.uploadedBytes),
        age(b.metadata.creationTimestamp as unknown as string, Date.now()),
      ]);
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    for (const r of rows)
      console.log(
        r
          .map((v, c) => v.padEnd(widths[c]))
          .join('   ')
          .trimEnd(),
      );
    console.log(`demo completed in ${Math.round((Date.now() - started) / 1000)}s`);

    if (opts.keep) {
      keep = true;
      console.log(
        `\nThe sandbox and the controller keep running (Ctrl-C stops them). In another shell:\nexport KUBECONFIG=${sb.kubeconfigPath}\nkubectl -n ${NS} get backups,restores,oneoffbackups`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      keep = false;
    }
  } finally {
    if (!keep) {
      await manager.stop();
      await sb.stop();
    }
  }
}
