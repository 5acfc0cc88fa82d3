/**
 * The sandbox's kubelet: every pod runs here, each container as a real local process (see isolation.ts)
 * with the pod's command, args, env, working dir, user and volumes at the spec's paths. It reports
 * container states, restarts per restartPolicy with back-off, reads termination messages, keeps logs, and
 * kills a pod's processes when the pod is deleted.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { packageRoot } from '../../../version.js';
import { ClusterController, keyOf, splitKey, type ReconcileResult } from '../controller.js';
import { RES, type Kube } from '../kube.js';
import type {
  ConfigMap,
  Container,
  ContainerStatus,
  KeyToPath,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Secret,
} from '../objects.js';
import type { VolumeStore } from '../storage/volume-store.js';
import { ContainerConfigError, containerEnv, expandVars } from './env.js';
import { startContainer, type ContainerMount, type IsolationMode } from './isolation.js';
import type { ContainerLogWriter, LogStore } from './log-store.js';
import { podStatus, waitingStatus } from './pod-status.js';

/** Kubelet tunables (the real defaults are slow for tests, so ours are short). */
export interface KubeletOptions {
  /** First crash-loop back-off; doubles per restart up to `restartBackoffMaxMs` (real: 10 s to 5 min). */
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  /** Upper bound on a pod's terminationGracePeriodSeconds before SIGKILL (real: the pod's value, 30 s). */
  maxGraceMs: number;
  isolation?: IsolationMode;
}

/** The largest termination message the kubelet keeps per container. */
const MAX_TERMINATION_MESSAGE = 4096;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** One container of a running pod. */
interface ContainerRuntime {
  spec: Container;
  status: ContainerStatus;
  child?: ChildProcess;
  exited?: Promise<void>;
  restartTimer?: NodeJS.Timeout;
}

/** What the kubelet holds for one pod instance. */
interface PodRuntime {
  uid: string;
  namespace: string;
  name: string;
  dir: string;
  startTime: string;
  containers: Map<string, ContainerRuntime>;
  mounts?: Map<string, { hostPath: string; kind: 'file' | 'dir'; readOnly: boolean; block: boolean }>;
  killing: boolean;
  lastWritten?: string;
}

class VolumeNotReady extends Error {}

/** Runs the pods of the sandbox's one node. */
export class Kubelet extends ClusterController {
  protected readonly component = 'kubelet';
  readonly pods;
  private readonly runtimes = new Map<string, PodRuntime>();

  constructor(
    kube: Kube,
    private readonly store: VolumeStore,
    private readonly logs: LogStore,
    private readonly podsDir: string,
    private readonly options: KubeletOptions,
    now?: () => Date,
  ) {
    super('kubelet', kube, now);
    this.pods = this.informer<Pod>(RES.pods, {
      onUpsert: (p) => this.enqueue(keyOf(p)),
      onDelete: (p) => this.enqueue(keyOf(p)),
    });
  }

  /** Sends `signal` to every process of a pod's containers (the pod object stays); false if none runs. */
  killPod(namespace: string, name: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    const rt = this.runtimes.get(`${namespace}/${name}`);
    let killed = false;
    for (const c of rt?.containers.values() ?? []) {
      if (c.child?.pid && c.child.exitCode === null && c.child.signalCode === null) {
        signalGroup(c.child, signal);
        killed = true;
      }
    }
    return killed;
  }

  /** Kills every process and waits for them; the pods' status is left as last written. */
  override async stop(): Promise<void> {
    await super.stop();
    await Promise.all([...this.runtimes.values()].map((rt) => this.kill(rt, 0)));
  }

  protected async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods.get(namespace, name);
    let rt = this.runtimes.get(key);
    if (rt && (!pod || pod.metadata.uid !== rt.uid)) {
      // The pod (or this instance of it) is gone: kill its processes and forget it.
      this.runtimes.delete(key);
      await this.kill(rt, this.graceMs(pod));
      await rm(rt.dir, { recursive: true, force: true });
      await this.logs.removePod({ namespace: rt.namespace, pod: rt.name, uid: rt.uid });
      rt = undefined;
    }
    if (!pod) return;
    if (pod.metadata.deletionTimestamp) {
      if (rt) {
        await this.kill(rt, this.graceMs(pod));
        await this.writeStatus(pod, rt);
      }
      // Graceful deletion ends when the kubelet confirms the processes are gone.
      await this.kube.delete(RES.pods, namespace, name, undefined, 0).catch(() => undefined);
      return;
    }
    if (!rt) {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      rt = {
        uid: pod.metadata.uid ?? '',
        namespace,
        name,
        dir: join(this.podsDir, `${namespace}_${name}_${pod.metadata.uid}`),
        startTime: this.now().toISOString(),
        containers: new Map(
          pod.spec.containers.map((c) => [c.name, { spec: c, status: waitingStatus(c.name, c.image) }]),
        ),
        killing: false,
      };
      this.runtimes.set(key, rt);
    }
    let requeue: number | undefined;
    if (!rt.mounts) {
      try {
        rt.mounts = await this.prepareVolumes(pod, rt);
      } catch (e) {
        if (!(e instanceof VolumeNotReady)) throw e;
        await this.event(pod, 'Warning', 'FailedMount', e.message);
        await this.writeStatus(pod, rt);
        return { requeueAfterMs: 500 };
      }
    }
    for (const c of rt.containers.values()) {
      if (c.child || c.restartTimer || c.status.state.terminated || rt.killing) continue;
      const wait = await this.startOne(pod, rt, c);
      if (wait) requeue = Math.min(requeue ?? Infinity, wait);
    }
    await this.writeStatus(pod, rt);
    return requeue !== undefined ? { requeueAfterMs: requeue } : undefined;
  }

  private graceMs(pod: Pod | undefined): number {
    const seconds = pod?.spec.terminationGracePeriodSeconds ?? 30;
    return Math.min(seconds * 1000, this.options.maxGraceMs);
  }

  private async writeStatus(pod: Pod, rt: PodRuntime): Promise<void> {
    const status = podStatus(
      pod,
      [...rt.containers.values()].map((c) => c.status),
      this.now(),
      rt.startTime,
    );
    const text = JSON.stringify(status);
    if (text === rt.lastWritten) return;
    await this.kube.patchStatus(RES.pods, rt.namespace, rt.name, status);
    rt.lastWritten = text;
  }

  /** Resolves the pod's volumes to host paths (PVCs must be bound), writing secret/configMap files. */
  private async prepareVolumes(pod: Pod, rt: PodRuntime): Promise<NonNullable<PodRuntime['mounts']>> {
    const ns = rt.namespace;
    const out: NonNullable<PodRuntime['mounts']> = new Map();
    const fsGroup = pod.spec.securityContext?.fsGroup;
    for (const v of pod.spec.volumes ?? []) {
      if (v.persistentVolumeClaim) {
        const claim = v.persistentVolumeClaim.claimName;
        const pvc = await this.kube.get<PersistentVolumeClaim>(RES.pvcs, ns, claim);
        if (!pvc) throw new VolumeNotReady(`persistentvolumeclaim "${claim}" not found`);
        if (pvc.status?.phase !== 'Bound' || !pvc.spec.volumeName) {
          throw new VolumeNotReady(`persistentvolumeclaim "${claim}" is not bound`);
        }
        const pv = await this.kube.get<PersistentVolume>(RES.pvs, '', pvc.spec.volumeName);
        const mode = pv?.spec.volumeMode ?? pvc.spec.volumeMode ?? 'Filesystem';
        const hostPath = this.store.volumePath(pvc.spec.volumeName, mode);
        // Like the real kubelet: fsGroup changes filesystems, never the owner of a raw block device.
        if (fsGroup !== undefined && mode !== 'Block')
          await applyFsGroup(hostPath, fsGroup, pod.spec.securityContext?.fsGroupChangePolicy);
        out.set(v.name, {
          hostPath,
          kind: mode === 'Block' ? 'file' : 'dir',
          readOnly: !!v.persistentVolumeClaim.readOnly,
          block: mode === 'Block',
        });
      } else if (v.emptyDir) {
        const dir = join(rt.dir, 'volumes', 'empty-dir', v.name);
        await mkdir(dir, { recursive: true });
        await chmod(dir, 0o777);
        out.set(v.name, { hostPath: dir, kind: 'dir', readOnly: false, block: false });
      } else if (v.secret || v.configMap) {
        const isSecret = !!v.secret;
        const srcName = v.secret?.secretName ?? v.configMap!.name;
        const obj = isSecret
          ? await this.kube.get<Secret>(RES.secrets, ns, srcName)
          : await this.kube.get<ConfigMap>(RES.configmaps, ns, srcName);
        const optional = (v.secret ?? v.configMap)!.optional;
        if (!obj && !optional)
          throw new VolumeNotReady(
            `MountVolume.SetUp failed for volume "${v.name}" : ${isSecret ? 'secret' : 'configmap'} "${srcName}" not found`,
          );
        const data: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries((obj as Secret | undefined)?.data ?? {}))
          data[k] = isSecret ? Buffer.from(val, 'base64') : Buffer.from(val);
        for (const [k, val] of Object.entries((obj as ConfigMap | undefined)?.binaryData ?? {}))
          data[k] = Buffer.from(val, 'base64');
        const dir = join(rt.dir, 'volumes', isSecret ? 'secret' : 'configmap', v.name);
        await writeProjected(
          dir,
          data,
          (v.secret ?? v.configMap)!.items,
          (v.secret ?? v.configMap)!.defaultMode ?? 0o644,
          fsGroup,
        );
        out.set(v.name, { hostPath: dir, kind: 'dir', readOnly: true, block: false });
      } else if (v.hostPath) {
        if (v.hostPath.type === 'DirectoryOrCreate') await mkdir(v.hostPath.path, { recursive: true });
        const st = await stat(v.hostPath.path).catch(() => undefined);
        if (!st)
          throw new VolumeNotReady(
            `MountVolume.SetUp failed for volume "${v.name}" : hostPath ${v.hostPath.path} does not exist`,
          );
        out.set(v.name, {
          hostPath: v.hostPath.path,
          kind: st.isDirectory() ? 'dir' : 'file',
          readOnly: false,
          block: false,
        });
      } else {
        throw new VolumeNotReady(
          `volume "${v.name}": only persistentVolumeClaim, emptyDir, secret, configMap and hostPath volumes are supported by the sandbox`,
        );
      }
    }
    return out;
  }

  /** Starts one container; returns a requeue delay when it could not start yet. */
  private async startOne(pod: Pod, rt: PodRuntime, c: ContainerRuntime): Promise<number | undefined> {
    const spec = c.spec;
    const key = { namespace: rt.namespace, pod: rt.name, uid: rt.uid, container: spec.name };
    const fail = (exitCode: number, reason: string, message: string): void => {
      const t = this.now().toISOString();
      c.status = {
        ...c.status,
        state: { terminated: { exitCode, reason, message, startedAt: t, finishedAt: t } },
        started: false,
      };
    };
    const uid = spec.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser;
    const gid = spec.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup;
    const nonRoot = spec.securityContext?.runAsNonRoot ?? pod.spec.securityContext?.runAsNonRoot;
    let env: Record<string, string>;
    try {
      if (nonRoot && !uid) {
        throw new ContainerConfigError(
          uid === 0
            ? `container's runAsUser breaks non-root policy (pod: "${rt.name}_${rt.namespace}(${rt.uid})", container: ${spec.name})`
            : `container has runAsNonRoot and image will run as root (pod: "${rt.name}_${rt.namespace}(${rt.uid})", container: ${spec.name})`,
        );
      }
      env = await containerEnv(
        pod,
        spec,
        {
          secret: (n) => this.kube.get<Secret>(RES.secrets, rt.namespace, n),
          configMap: (n) => this.kube.get<ConfigMap>(RES.configmaps, rt.namespace, n),
        },
        this.baseEnv(pod, uid),
      );
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      c.status = {
        ...c.status,
        state: { waiting: { reason: 'CreateContainerConfigError', message: e.message } },
      };
      await this.event(pod, 'Warning', 'Failed', `Error: ${e.message}`);
      return 500;
    }

    const mounts: ContainerMount[] = [];
    for (const m of spec.volumeMounts ?? []) {
      const v = rt.mounts!.get(m.name);
      if (!v)
        return this.configError(pod, c, `volume "${m.name}" of volumeMounts not found in the pod's volumes`);
      if (v.block)
        return this.configError(
          pod,
          c,
          `volume "${m.name}" has volumeMode Block: use volumeDevices, not volumeMounts`,
        );
      const hostPath = m.subPath
        ? join(v.hostPath, posix.normalize(m.subPath).replace(/^(\.\.\/)+/, ''))
        : v.hostPath;
      if (m.subPath) await mkdir(hostPath, { recursive: true }).catch(() => undefined);
      const kind = (await stat(hostPath).catch(() => undefined))?.isDirectory() === false ? 'file' : 'dir';
      mounts.push({ hostPath, containerPath: m.mountPath, kind, readOnly: !!m.readOnly || v.readOnly });
    }
    for (const d of spec.volumeDevices ?? []) {
      const v = rt.mounts!.get(d.name);
      if (!v)
        return this.configError(pod, c, `volume "${d.name}" of volumeDevices not found in the pod's volumes`);
      if (!v.block)
        return this.configError(
          pod,
          c,
          `volume "${d.name}" has volumeMode Filesystem: use volumeMounts, not volumeDevices`,
        );
      mounts.push({ hostPath: v.hostPath, containerPath: d.devicePath, kind: 'file', readOnly: v.readOnly });
    }
    const instance = c.status.restartCount;
    const termPath = join(rt.dir, 'termination', `${spec.name}-${instance}`);
    await mkdir(join(rt.dir, 'termination'), { recursive: true });
    await writeFile(termPath, '');
    await chmod(termPath, 0o666);
    mounts.push({
      hostPath: termPath,
      containerPath: spec.terminationMessagePath ?? '/dev/termination-log',
      kind: 'file',
      readOnly: false,
    });

    const fault = this.takeFault();
    if (fault) {
      fail(128, 'StartError', fault);
      await this.event(pod, 'Warning', 'Failed', `Error: ${fault}`);
      return 0;
    }

    const argv = [...(spec.command ?? []), ...(spec.args ?? [])].map((a) => expandVars(a, env));
    if (argv.length === 0)
      return this.configError(pod, c, 'the sandbox ignores images: the container needs a command');
    // `csbs ...` runs this very package, as the operator's image would.
    if (argv[0] === 'csbs') argv.splice(0, 1, process.execPath, join(packageRoot, 'dist', 'src', 'main.js'));
    const supplementalGroups = [...(pod.spec.securityContext?.supplementalGroups ?? [])];
    if (pod.spec.securityContext?.fsGroup !== undefined)
      supplementalGroups.push(pod.spec.securityContext.fsGroup);

    const log = await this.logs.open(key, instance);
    const startedAt = this.now().toISOString();
    const containerID = `sandbox://${randomBytes(16).toString('hex')}`;
    const started = await startContainer(
      {
        argv,
        env,
        workingDir: spec.workingDir,
        mounts,
        uid,
        gid: gid ?? (uid !== undefined ? uid : undefined),
        supplementalGroups,
        scratchDir: join(rt.dir, 'containers', `${spec.name}-${instance}`),
      },
      this.options.isolation,
    );
    const child = started.child;
    c.child = child;
    child.stdout?.on('data', (b: Buffer) => log.write('stdout', b));
    child.stderr?.on('data', (b: Buffer) => log.write('stderr', b));
    c.status = {
      ...c.status,
      state: { running: { startedAt } },
      containerID,
      started: true,
    };
    await this.event(pod, 'Normal', 'Started', `Started container ${spec.name}`);
    c.exited = this.onExit(child, log).then(async ({ code, signal }) => {
      const setupError = await started.setupError;
      let exitCode = code ?? 128 + (signal ? signalNumber(signal) : 9);
      let reason = exitCode === 0 ? 'Completed' : 'Error';
      let message = await readTermination(termPath);
      if (setupError && exitCode !== 0 && !message) {
        exitCode = 128;
        reason = 'StartError';
        message = setupError;
      }
      if (!message && exitCode !== 0 && spec.terminationMessagePolicy === 'FallbackToLogsOnError')
        message = await this.logs.tail(key);
      const terminated = {
        exitCode,
        reason,
        ...(signal ? { signal: signalNumber(signal) } : {}),
        ...(message ? { message } : {}),
        startedAt,
        finishedAt: this.now().toISOString(),
        containerID,
      };
      c.child = undefined;
      const policy = pod.spec.restartPolicy ?? 'Always';
      const restart = !rt.killing && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
      if (!restart) {
        c.status = { ...c.status, state: { terminated }, started: false };
      } else {
        const delay = Math.min(
          this.options.restartBackoffMs * 2 ** c.status.restartCount,
          this.options.restartBackoffMaxMs,
        );
        c.status = {
          ...c.status,
          state: {
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off ${Math.round(delay)}ms restarting failed container=${spec.name} pod=${rt.name}_${rt.namespace}(${rt.uid})`,
            },
          },
          lastState: { terminated },
          started: false,
        };
        c.restartTimer = setTimeout(() => {
          c.restartTimer = undefined;
          c.status = { ...c.status, restartCount: c.status.restartCount + 1 };
          this.enqueue(`${rt.namespace}/${rt.name}`);
        }, delay);
      }
      this.enqueue(`${rt.namespace}/${rt.name}`);
    });
    return undefined;
  }

  private async configError(pod: Pod, c: ContainerRuntime, message: string): Promise<number> {
    c.status = { ...c.status, state: { waiting: { reason: 'CreateContainerConfigError', message } } };
    await this.event(pod, 'Warning', 'Failed', `Error: ${message}`);
    return 2000;
  }

  /** Resolves when the process exited and its output was drained (bounded wait for stray holders of the pipes). */
  private onExit(
    child: ChildProcess,
    log: ContainerLogWriter,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (done) return;
        done = true;
        void log.close().then(() => resolve({ code, signal }));
      };
      child.once('close', (code, signal) => finish(code, signal));
      child.once('exit', (code, signal) => {
        // A background process of the container may keep stdout open: stop waiting for it after a moment.
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish(code, signal);
        }, 500).unref();
      });
      child.once('error', () => finish(127, null));
    });
  }

  private baseEnv(pod: Pod, uid: number | undefined): Record<string, string> {
    const env: Record<string, string> = {
      PATH: DEFAULT_PATH,
      HOSTNAME: pod.spec.hostname ?? pod.metadata.name,
      HOME: uid ? '/' : '/root',
    };
    try {
      const server = new URL(this.kube.kc.getCurrentCluster()?.server ?? '');
      env.KUBERNETES_SERVICE_HOST = server.hostname;
      env.KUBERNETES_SERVICE_PORT = server.port || (server.protocol === 'https:' ? '443' : '80');
    } catch {
      // no cluster URL: leave the service variables out
    }
    return env;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when every container process is gone. */
  private async kill(rt: PodRuntime, graceMs: number): Promise<void> {
    rt.killing = true;
    const live = [...rt.containers.values()];
    for (const c of live) {
      if (c.restartTimer) clearTimeout(c.restartTimer);
      c.restartTimer = undefined;
      if (c.child) signalGroup(c.child, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    }
    const exits = Promise.all(live.map((c) => c.exited ?? Promise.resolve()));
    if (graceMs > 0) {
      const timer = setTimeout(
        () => live.forEach((c) => c.child && signalGroup(c.child, 'SIGKILL')),
        graceMs,
      );
      await exits;
      clearTimeout(timer);
    } else {
      await exits;
    }
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function signalNumber(signal: NodeJS.Signals): number {
  return SIGNALS[signal] ?? 9;
}

async function readTermination(path: string): Promise<string> {
  const buf = await readFile(path).catch(() => Buffer.alloc(0));
  return buf.subarray(0, MAX_TERMINATION_MESSAGE).toString('utf8');
}

/** Writes a Secret's or ConfigMap's keys as files (all keys, or the `items` mapping). */
async function writeProjected(
  dir: string,
  data: Record<string, Buffer>,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  fsGroup?: number,
): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const entries = items
    ? items
        .filter((i) => data[i.key] !== undefined)
        .map((i) => ({ path: i.path, value: data[i.key]!, mode: i.mode ?? defaultMode }))
    : Object.entries(data).map(([k, value]) => ({ path: k, value, mode: defaultMode }));
  for (const e of entries) {
    const file = join(dir, posix.normalize(e.path).replace(/^(\.\.\/)+/, ''));
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, e.value, { mode: e.mode });
    await chmod(file, e.mode);
    if (fsGroup !== undefined) await chown(file, 0, fsGroup);
  }
}

/**
 * fsGroup as the kubelet applies it at a mount: the whole volume gets the group, files group-readable
 * and writable, directories also group-searchable and setgid, so files that another pod (say, one
 * running as root) created stay usable by the next pod's user. With fsGroupChangePolicy
 * OnRootMismatch the walk is skipped when the volume's root already has that group and those bits.
 */
async function applyFsGroup(path: string, gid: number, policy?: string): Promise<void> {
  const fix = async (p: string): Promise<boolean> => {
    const st = await lstat(p);
    if (st.isSymbolicLink()) return false;
    if (st.gid !== gid) await chown(p, st.uid, gid);
    const mode = (st.mode & 0o7777) | (st.isDirectory() ? 0o2070 : 0o060);
    if (mode !== (st.mode & 0o7777)) await chmod(p, mode);
    return st.isDirectory();
  };
  if (policy === 'OnRootMismatch') {
    const root = await lstat(path);
    const want = root.isDirectory() ? 0o2070 : 0o060;
    if (root.gid === gid && (root.mode & want) === want) return;
  }
  const dirs = (await fix(path)) ? [path] : [];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      if (await fix(p)) dirs.push(p);
    }
  }
}
