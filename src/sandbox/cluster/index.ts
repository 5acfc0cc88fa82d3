/**
 * The sandbox's simulated cluster: the components a real cluster runs beside its API server (PV
 * provisioner, CSI snapshotter, Job controller, kubelet, KubeVirt), each talking to the sandbox API over
 * HTTP with @kubernetes/client-node, each pausable and able to be told to fail.
 *
 * Lifecycle (see docs/design.md): `createCluster()` before the API server starts (it provides the pod log
 * source and the aggregated APIs), `start(kubeConfig)` once the server listens, `stop()` before the server
 * closes.
 */
import { readdir, mkdir, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import type { PodLogOptions } from '../apiserver/server.js';
import type { AggregatedApi } from '../extensions.js';
import type { ClusterController, ControllerName } from './controller.js';
import { JobController } from './jobs/job-controller.js';
import { Kube } from './kube.js';
import { detectIsolation, type IsolationMode } from './kubelet/isolation.js';
import { Kubelet } from './kubelet/kubelet.js';
import { LogStore } from './kubelet/log-store.js';
import {
  GUEST_AGENT_ANNOTATION,
  KUBEVIRT_SUBRESOURCES,
  KubeVirt,
  type FreezeRecord,
} from './kubevirt/kubevirt.js';
import { Provisioner } from './storage/provisioner.js';
import { Snapshotter } from './storage/snapshotter.js';
import { VolumeStore } from './storage/volume-store.js';

export type { ControllerName } from './controller.js';
export type { FreezeRecord } from './kubevirt/kubevirt.js';
export { GUEST_AGENT_ANNOTATION };
export { SANDBOX_DRIVER } from './storage/provisioner.js';
export { DEFAULT_SNAPSHOT_CLASS } from './storage/snapshotter.js';

/** Options of the simulated cluster; every field has a default fit for tests. */
export interface ClusterOptions {
  /** Root of the cluster's state (volumes, snapshots, pods, logs): `<sandbox stateDir>/cluster`. */
  dir: string;
  /** Controllers to run (default: all). */
  controllers?: ControllerName[];
  /** Job pod-creation back-off after a failure, doubling per failure (default 100 ms, max 2 s; real: 10 s, 6 min). */
  jobBackoffMs?: number;
  jobBackoffMaxMs?: number;
  /** Kubelet crash-loop back-off (default 100 ms, max 2 s; real: 10 s, 5 min). */
  restartBackoffMs?: number;
  restartBackoffMaxMs?: number;
  /** Cap on terminationGracePeriodSeconds before SIGKILL (default 2 s). */
  maxGraceMs?: number;
  /** Force the container isolation (default: detected; `namespace` when root can unshare). */
  isolation?: IsolationMode;
  /** Injected clock. */
  now?: () => Date;
}

/** The hooks of the sandbox API server the cluster plugs into (`ApiServer` has them). */
export interface ApiServerHooks {
  setPodLogProvider(
    provider: (
      namespace: string,
      pod: string,
      options: PodLogOptions,
    ) => Promise<string | Readable | undefined>,
  ): void;
  addRoute(
    route: {
      method: string;
      path: RegExp;
      handler: (ctx: {
        req: IncomingMessage;
        res: ServerResponse;
        match: RegExpExecArray;
      }) => Promise<unknown> | unknown;
    },
    discovery?: { groupVersion: string; resource: { [key: string]: unknown } },
  ): void;
}

/** Options for `sandbox.cluster.fail()`. */
export interface FailOptions {
  /** How many actions fail (default: all, until `fail(name, { times: 0 })`). */
  times?: number;
  message?: string;
}

const ALL: ControllerName[] = ['provisioner', 'snapshotter', 'jobs', 'kubelet', 'kubevirt'];

/** The running simulated cluster, as `sandbox.cluster`. */
export class SimulatedCluster {
  /** For the API server: `pods/log`. */
  readonly logs: LogStore;
  /** For the API server: KubeVirt's `subresources.kubevirt.io/v1`. */
  readonly aggregatedApis: AggregatedApi[];
  /** How containers are isolated on this host. */
  readonly isolation: IsolationMode;
  private readonly store: VolumeStore;
  private controllers = new Map<ControllerName, ClusterController>();
  private kubevirt?: KubeVirt;
  private provisioner?: Provisioner;
  private kubelet?: Kubelet;
  private started = false;
  private readonly enabled: Set<ControllerName>;

  constructor(private readonly options: ClusterOptions) {
    this.store = new VolumeStore(options.dir);
    this.logs = new LogStore(join(options.dir, 'logs'));
    this.isolation = options.isolation ?? detectIsolation();
    this.enabled = new Set(options.controllers ?? ALL);
    // The aggregated API must exist before the server starts; it reaches the controller once started.
    this.aggregatedApis = this.enabled.has('kubevirt')
      ? [
          {
            group: 'subresources.kubevirt.io',
            version: 'v1',
            resources: KUBEVIRT_SUBRESOURCES,
            handle: (req, res, path) => {
              if (!this.kubevirt) {
                res.writeHead(503, { 'Content-Type': 'application/json' });
                res.end(
                  JSON.stringify({
                    kind: 'Status',
                    apiVersion: 'v1',
                    metadata: {},
                    status: 'Failure',
                    reason: 'ServiceUnavailable',
                    message: 'virt-api is not running',
                    code: 503,
                  }),
                );
                return;
              }
              return this.kubevirt.aggregatedApi().handle(req, res, path);
            },
          },
        ]
      : [];
  }

  /**
   * Plugs into the API server before it serves: `pods/log` reads the kubelet's logs, and each aggregated
   * API (KubeVirt's subresources) is routed and listed in discovery as a real APIService would be.
   */
  attach(server: ApiServerHooks): void {
    server.setPodLogProvider((namespace, pod, o) => this.podLog(namespace, pod, o));
    for (const api of this.aggregatedApis) {
      const prefix = `/apis/${api.group}/${api.version}`;
      const path = new RegExp(`^${prefix.replace(/\./g, '\\.')}(/.*)$`);
      const handler: Parameters<ApiServerHooks['addRoute']>[0]['handler'] = ({ req, res, match }) =>
        api.handle(req, res, match[1]!);
      // One route per discovery entry (the first match serves; the rest only list the resource).
      for (const r of api.resources) {
        const resource = {
          name: r.name,
          singularName: '',
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: r.verbs,
        };
        server.addRoute(
          { method: 'PUT', path, handler },
          { groupVersion: `${api.group}/${api.version}`, resource },
        );
      }
      for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) server.addRoute({ method, path, handler });
    }
  }

  /** Serves one `pods/log` request from the log store (the newest pod instance of that name). */
  private async podLog(
    namespace: string,
    pod: string,
    o: PodLogOptions,
  ): Promise<string | Readable | undefined> {
    const uid = await this.latestPodUid(namespace, pod);
    if (!uid) return undefined;
    const req = {
      namespace,
      pod,
      uid,
      container: o.container,
      previous: o.previous,
      timestamps: o.timestamps,
      tailLines: o.tailLines,
      limitBytes: o.limitBytes,
      sinceSeconds: o.sinceSeconds,
    };
    if (o.follow) {
      const ctl = new AbortController();
      const iter = this.logs.follow(req, ctl.signal);
      if (!iter) return undefined;
      const stream = Readable.from(iter);
      stream.on('close', () => ctl.abort());
      return stream;
    }
    return (await this.logs.read(req))?.toString('utf8');
  }

  /** The uid of the newest logged instance of a pod name (logs are kept per pod uid). */
  private async latestPodUid(namespace: string, pod: string): Promise<string | undefined> {
    const fromKubelet = this.kubelet?.pods.get(namespace, pod)?.metadata.uid;
    if (fromKubelet) return fromKubelet;
    const prefix = `${namespace}_${pod}_`;
    const names = (await readdir(this.logs.root).catch(() => [] as string[])).filter((n) =>
      n.startsWith(prefix),
    );
    let best: { uid: string; t: number } | undefined;
    for (const n of names) {
      const t = (await stat(join(this.logs.root, n))).mtimeMs;
      if (!best || t > best.t) best = { uid: n.slice(prefix.length), t };
    }
    return best?.uid;
  }

  /** Starts the enabled controllers against the API server of `kc`; resolves when their caches synced. */
  async start(kc: KubeConfig): Promise<void> {
    if (this.started) throw new Error('the simulated cluster is already started');
    this.started = true;
    await mkdir(this.options.dir, { recursive: true });
    const kube = new Kube(kc);
    const now = this.options.now;
    const o = this.options;
    if (this.enabled.has('provisioner')) this.provisioner = this.add(new Provisioner(kube, this.store, now));
    if (this.enabled.has('snapshotter')) {
      const s = this.add(new Snapshotter(kube, this.store, now));
      await s.installDefaultClass();
    }
    if (this.enabled.has('jobs'))
      this.add(
        new JobController(kube, { baseMs: o.jobBackoffMs ?? 100, maxMs: o.jobBackoffMaxMs ?? 2000 }, now),
      );
    if (this.enabled.has('kubelet')) {
      this.kubelet = this.add(
        new Kubelet(
          kube,
          this.store,
          this.logs,
          join(o.dir, 'pods'),
          {
            restartBackoffMs: o.restartBackoffMs ?? 100,
            restartBackoffMaxMs: o.restartBackoffMaxMs ?? 2000,
            maxGraceMs: o.maxGraceMs ?? 2000,
            isolation: this.isolation,
          },
          now,
        ),
      );
    }
    if (this.enabled.has('kubevirt')) this.kubevirt = this.add(new KubeVirt(kube, now));
    await Promise.all([...this.controllers.values()].map((c) => c.start()));
  }

  private add<T extends ClusterController>(c: T): T {
    this.controllers.set(c.name, c);
    return c;
  }

  /** Stops every controller, kills every pod process and waits for them (volumes and logs stay). */
  async stop(): Promise<void> {
    await Promise.all([...this.controllers.values()].map((c) => c.stop()));
    this.controllers.clear();
    await rm(join(this.options.dir, 'pods'), { recursive: true, force: true });
  }

  private controller(name: ControllerName): ClusterController {
    const c = this.controllers.get(name);
    if (!c)
      throw new Error(
        `controller "${name}" is not running (running: ${[...this.controllers.keys()].join(', ') || 'none'})`,
      );
    return c;
  }

  /** Stops a controller from acting until {@link resume} (its work queues up meanwhile). */
  pause(name: ControllerName): void {
    this.controller(name).pause();
  }

  /** Lets a paused controller act again, starting with what queued up. */
  resume(name: ControllerName): void {
    this.controller(name).resume();
  }

  /**
   * Makes a controller's next actions fail as the real component reports it: provisioner -> PVC stays
   * Pending with a ProvisioningFailed event; snapshotter -> VolumeSnapshot `status.error`; jobs ->
   * FailedCreate event, no pod; kubelet -> container terminated with exit code 128, reason StartError;
   * kubevirt -> a starting VMI goes Failed, a freeze answers 500.
   */
  fail(name: ControllerName, opts: FailOptions = {}): void {
    this.controller(name).fail(opts.times ?? Infinity, opts.message);
  }

  /** Sends `signal` (default SIGKILL) to a pod's container processes; false when none runs. */
  killPod(namespace: string, name: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    if (!this.kubelet) throw new Error('the kubelet is not running');
    return this.kubelet.killPod(namespace, name, signal);
  }

  /** Host path of a bound PVC's data: the sparse `disk.img` of a Block volume, the directory of a Filesystem one. */
  async volumePath(namespace: string, pvcName: string): Promise<string> {
    if (!this.provisioner) throw new Error('the provisioner is not running');
    return this.provisioner.volumePath(namespace, pvcName);
  }

  /** Every freeze/unfreeze handled, oldest first, optionally for one namespace or VMI. */
  freezeLog(namespace?: string, name?: string): FreezeRecord[] {
    return this.kubevirt?.freezeLog(namespace, name) ?? [];
  }
}

/** Creates the simulated cluster (not started). */
export function createCluster(options: ClusterOptions): SimulatedCluster {
  return new SimulatedCluster(options);
}
