/**
 * Runs one container as a real local process whose volumes appear at the exact paths of the pod spec.
 *
 * `namespace` mode (root with mount namespaces, the normal case): `unshare -m --propagation private` gives
 * the process its own mount table; in it a shell script mounts a tmpfs, an overlay over `/` (lower: the
 * host's root, upper: the tmpfs, so any path can be created without touching the host), re-binds the
 * host's other mounts (/proc, /sys, ...), mounts a fresh /dev, binds each volume at its path, then
 * `chroot`s into the overlay and execs the command as the pod's user. Nothing is mounted in the host's
 * namespace: when the last process of the pod exits, the kernel drops its mounts.
 *
 * `remap` mode (no root or no unshare): the process runs on the host and every path of the spec under a
 * volume (args, env values, working dir) is rewritten to the volume's host path. Documented fallback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';

/** How containers are isolated on this host. */
export type IsolationMode = 'namespace' | 'remap';

/** One path of the container backed by a host file or directory. */
export interface ContainerMount {
  hostPath: string;
  /** Absolute path inside the container. */
  containerPath: string;
  /** `file` for block devices and single files (termination log), `dir` for directories. */
  kind: 'file' | 'dir';
  readOnly: boolean;
}

/** Everything needed to start one container process. */
export interface ContainerLaunch {
  /** Full argv: command + args, already resolved (a leading `csbs` replaced by the caller). */
  argv: string[];
  env: Record<string, string>;
  /** Absolute path inside the container; `/` when unset. */
  workingDir?: string;
  mounts: ContainerMount[];
  uid?: number;
  gid?: number;
  supplementalGroups?: number[];
  /** A host directory private to this container instance, for the isolation's scratch mounts. */
  scratchDir: string;
}

/** A started container: the child (stdout/stderr piped) and a promise of setup errors (empty when it started). */
export interface StartedContainer {
  child: ChildProcess;
  /** Resolves when setup finished: `''` if the command was exec'd, else what failed (mount, chroot). */
  setupError: Promise<string>;
}

const hostMountsCache: { value?: string[] } = {};

/** Mount points of the host other than `/` and `/dev/...`, parents before children (mountinfo order). */
export function hostSubmounts(): string[] {
  if (hostMountsCache.value) return hostMountsCache.value;
  const points: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === '/' || point === '/dev' || point.startsWith('/dev/')) continue;
    if (!points.includes(point)) points.push(point);
  }
  hostMountsCache.value = points;
  return points;
}

let probed: IsolationMode | undefined;

/**
 * Which isolation works here: tries a namespace with a tmpfs and an overlay of `/` once per process.
 * `CSBS_SANDBOX_ISOLATION=remap` forces the fallback.
 */
export function detectIsolation(): IsolationMode {
  if (probed) return probed;
  if (process.env.CSBS_SANDBOX_ISOLATION === 'remap') return (probed = 'remap');
  const script =
    'set -e; d=$(mktemp -d); mount -t tmpfs csbs-probe "$d"; mkdir "$d/u" "$d/w" "$d/r";' +
    ' mount -t overlay csbs-probe -o lowerdir=/,upperdir="$d/u",workdir="$d/w" "$d/r"; test -d "$d/r/proc";' +
    ' umount "$d/r"; umount "$d"; rmdir "$d"';
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', '/bin/sh', '-c', script], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  probed = r.status === 0 ? 'namespace' : 'remap';
  return probed;
}

/** Single-quotes a string for /bin/sh. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The setup script run inside the new mount namespace (exported for tests and for reading). */
export function namespaceScript(l: ContainerLaunch): string {
  const q = shellQuote;
  const S = join(l.scratchDir, 'ns');
  if (/[,:\s]/.test(S))
    throw new Error(`state directory path must not contain commas, colons or spaces: ${S}`);
  const lines = [
    '#!/bin/sh',
    // Setup errors go to fd 3 (read by the kubelet); the container's stderr is kept in fd 4 until exec.
    'exec 4>&2 2>&3',
    'set -eu',
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    `S=${q(S)}`,
    'R="$S/root"',
    'mount -t tmpfs -o mode=0700 csbs-pod "$S"',
    'mkdir "$S/upper" "$S/work" "$R"',
    'mount -t overlay csbs-pod -o lowerdir=/,upperdir="$S/upper",workdir="$S/work" "$R"',
  ];
  // Host mounts are best effort (a pod must not fail over an odd mount). One that contains the scratch
  // directory is bound alone (a recursive bind would loop through our own overlay); others recursively.
  const recursed: string[] = [];
  for (const point of hostSubmounts()) {
    if (recursed.some((r) => point.startsWith(`${r}/`))) continue;
    const holdsScratch = S.startsWith(`${point}/`);
    if (!holdsScratch) recursed.push(point);
    const target = `"$R"${q(point)}`;
    lines.push(
      `if [ -d ${q(point)} ]; then mkdir -p ${target}; elif [ -e ${q(point)} ]; then mkdir -p "$(dirname ${target})"; touch ${target}; fi` +
        ` && mount ${holdsScratch ? '--bind' : '--rbind'} ${q(point)} ${target} || true`,
    );
  }
  lines.push(
    'mount -t tmpfs -o mode=0755,nosuid csbs-dev "$R/dev"',
    'for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done',
    'ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"',
    'ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"',
    'mkdir "$R/dev/shm" "$R/dev/pts"; mount -t tmpfs -o mode=1777,nosuid,nodev csbs-shm "$R/dev/shm"',
  );
  // Parents before children, so a volume at /data and another at /data/sub both show.
  const mounts = [...l.mounts].sort(
    (a, b) => a.containerPath.split('/').length - b.containerPath.split('/').length,
  );
  for (const m of mounts) {
    const target = `"$R"${q(posix.normalize(m.containerPath))}`;
    if (m.kind === 'dir') lines.push(`mkdir -p ${target}`);
    else lines.push(`mkdir -p "$(dirname ${target})"`, `[ -e ${target} ] || touch ${target}`);
    lines.push(`mount --bind ${q(m.hostPath)} ${target}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  const wd = l.workingDir || '/';
  lines.push(`mkdir -p "$R"${q(wd)}`);
  const chrootArgs: string[] = [];
  if (l.uid !== undefined || l.gid !== undefined) chrootArgs.push(`--userspec=${l.uid ?? 0}:${l.gid ?? 0}`);
  if (l.supplementalGroups?.length) chrootArgs.push(`--groups=${l.supplementalGroups.join(',')}`);
  const envArgs = Object.entries(l.env).map(([k, v]) => q(`${k}=${v}`));
  lines.push(
    `exec chroot ${chrootArgs.join(' ')} "$R" /usr/bin/env -i -C ${q(wd)} ${envArgs.join(' ')} ${l.argv.map(q).join(' ')} 2>&4 3>&- 4>&-`,
  );
  return lines.join('\n') + '\n';
}

/** Rewrites `p` to its host path when it lies under a mount (longest container path wins). */
export function remapPath(p: string, mounts: readonly ContainerMount[]): string {
  let best: ContainerMount | undefined;
  for (const m of mounts) {
    const cp = posix.normalize(m.containerPath);
    if (
      (p === cp || p.startsWith(cp.endsWith('/') ? cp : `${cp}/`)) &&
      (!best || cp.length > best.containerPath.length)
    )
      best = m;
  }
  if (!best) return p;
  return best.hostPath + p.slice(posix.normalize(best.containerPath).length);
}

/** Remaps every absolute path inside `s` (an arg like `--target=/dev/xvda` included). */
function remapText(s: string, mounts: readonly ContainerMount[]): string {
  return s.replace(
    /(^|[=:\s])(\/[^\s:=;|&<>()'"]*)/g,
    (_, pre: string, path: string) => pre + remapPath(path, mounts),
  );
}

/**
 * Starts the container. stdout and stderr are pipes (`child.stdout`, `child.stderr`); the child leads its
 * own process group, so `process.kill(-child.pid, sig)` reaches everything it started.
 */
export async function startContainer(
  l: ContainerLaunch,
  mode: IsolationMode = detectIsolation(),
): Promise<StartedContainer> {
  await mkdir(l.scratchDir, { recursive: true });
  if (mode === 'remap') return startRemapped(l);
  await mkdir(join(l.scratchDir, 'ns'), { recursive: true });
  const scriptPath = join(l.scratchDir, 'setup.sh');
  await writeFile(scriptPath, namespaceScript(l), { mode: 0o700 });
  const child = spawn('unshare', ['-m', '--propagation', 'private', '/bin/sh', scriptPath], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const setupError = new Promise<string>((resolve) => {
    const fd3 = child.stdio[3];
    if (!fd3) return resolve('');
    const chunks: Buffer[] = [];
    fd3.on('data', (c: Buffer) => chunks.push(c));
    fd3.on('error', () => resolve(Buffer.concat(chunks).toString('utf8').trim()));
    fd3.on('close', () => resolve(Buffer.concat(chunks).toString('utf8').trim()));
  });
  child.on('error', () => {
    /* reported through exit */
  });
  return { child, setupError };
}

function startRemapped(l: ContainerLaunch): StartedContainer {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(l.env)) env[k] = remapText(v, l.mounts);
  const argv = l.argv.map((a) => remapText(a, l.mounts));
  const cwd = remapPath(l.workingDir || '/', l.mounts);
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env,
    cwd,
    ...(l.uid !== undefined && process.getuid?.() === 0 ? { uid: l.uid } : {}),
    ...(l.gid !== undefined && process.getuid?.() === 0 ? { gid: l.gid } : {}),
  });
  const setupError = new Promise<string>((resolve) => {
    child.once('spawn', () => resolve(''));
    child.once('error', (e) => resolve(`exec ${argv[0]}: ${e.message}`));
  });
  return { child, setupError };
}

/** Makes sure the parent directory of a host file exists (for termination logs and scratch files). */
export async function ensureParent(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
}
