/**
 * The sandbox cluster: the Kubernetes API emulator (and, added by the cluster module, its simulated
 * controllers) for tests, the demo and benchmarks. Operator code never imports this module.
 *
 *   const sb = await startSandbox();          // temp state dir, free port
 *   const api = sb.kubeConfig().makeApiClient(CoreV1Api);
 *   await sb.stop();
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { packageRoot } from '../version.js';
import { ApiServer, type ApiServerOptions, type FaultRule } from './apiserver/index.js';
import { ApiError } from './apiserver/errors.js';
import { isObject, type KubeObject } from './apiserver/types.js';
import { createCluster, type ClusterOptions, type SimulatedCluster } from './cluster/index.js';

/** Options of `startSandbox`; other sandbox modules add their own fields. */
export interface SandboxOptions {
  /** Where state (objects, kubeconfig, volumes) lives; a temp dir removed on `stop()` when omitted. */
  stateDir?: string;
  /** Port on 127.0.0.1 (a free one when omitted). */
  port?: number;
  /** Watch history window in events (older resourceVersions get 410 Expired). */
  watchHistory?: number;
  /** BOOKMARK interval for watches that allow bookmarks, in ms (default 60 s). */
  bookmarkIntervalMs?: number;
  /** Install the project's `crds/` and the third-party CRDs on start (default true). */
  installCrds?: boolean;
  /** Extra directories of CRD YAML files to install. */
  crdDirs?: string[];
  /** Persist objects to the state dir (default: true when `stateDir` is given). */
  persist?: boolean;
  /**
   * The simulated cluster's controllers (provisioner, snapshotter, jobs, kubelet, kubevirt): on by default;
   * `false` runs the API server alone. State lives in `<stateDir>/cluster`.
   */
  cluster?: false | Omit<ClusterOptions, 'dir'>;
}

/** A running sandbox. */
export interface Sandbox {
  /** Base URL of the API, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The kubeconfig file written into the state dir. */
  readonly kubeconfigPath: string;
  /** The state directory. */
  readonly stateDir: string;
  /** The API server itself (fault injection, extension routes, pod log provider). */
  readonly apiServer: ApiServer;
  /** The simulated cluster (pause/fail controllers, kill pods, volume paths, freeze log); undefined when disabled. */
  readonly cluster: SimulatedCluster | undefined;
  /** A fresh client-node KubeConfig pointing at this sandbox. */
  kubeConfig(): KubeConfig;
  /** The current global resourceVersion. */
  resourceVersion(): number;
  /** Fails the next matching requests with a Status of the given code. */
  failNext(rule: FaultRule): void;
  /** Closes every watch stream; with `expired`, each first gets an ERROR 410 event. */
  dropWatches(options?: { expired?: boolean }): number;
  /** Forgets the watch history: watches from older resourceVersions get 410 Expired. */
  compactHistory(): void;
  /** Stops the API and the sandbox's controllers; keeps the state dir if it was given. */
  stop(): Promise<void>;
}

/** Directory of the third-party CRD fixtures shipped with the sandbox (VolumeSnapshot*, KubeVirt). */
export function thirdPartyCrdDir(): string {
  return join(packageRoot, 'src', 'sandbox', 'crds');
}

/** Reads every CustomResourceDefinition from the YAML files of a directory (sorted by file name). */
export async function readCrds(dir: string): Promise<KubeObject[]> {
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out: KubeObject[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(join(dir, f), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${join(dir, f)}: ${doc.errors[0].message}`);
      const obj: unknown = doc.toJS();
      if (isObject(obj) && obj.kind === 'CustomResourceDefinition') out.push(obj as KubeObject);
    }
  }
  return out;
}

/** Creates or updates CRDs through the API's own rules (like `kubectl apply`). */
export function installCrds(server: ApiServer, crds: KubeObject[]): void {
  const def = server.registry.get('apiextensions.k8s.io/customresourcedefinitions')!;
  for (const crd of crds) {
    const name = crd.metadata.name ?? '';
    try {
      const current = server.rest.get(def, undefined, name);
      const next = {
        ...crd,
        metadata: { ...current.metadata, labels: crd.metadata.labels, annotations: crd.metadata.annotations },
      };
      server.rest.update(def, 'v1', undefined, name, next);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) server.rest.create(def, 'v1', undefined, crd);
      else throw err;
    }
  }
}

/** A kubeconfig document for a server URL. */
export function kubeconfigYaml(url: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // client-node refuses plain HTTP unless TLS verification is explicitly off.
    clusters: [{ name: 'csbs-sandbox', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'csbs-sandbox', user: {} }],
    contexts: [
      {
        name: 'csbs-sandbox',
        context: { cluster: 'csbs-sandbox', user: 'csbs-sandbox', namespace: 'default' },
      },
    ],
    'current-context': 'csbs-sandbox',
    preferences: {},
  });
}

/** Starts a sandbox: API server on 127.0.0.1, CRDs installed, kubeconfig written. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const temporary = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'csbs-sandbox-')));
  await mkdir(stateDir, { recursive: true });
  const serverOptions: ApiServerOptions = {};
  if (options.port !== undefined) serverOptions.port = options.port;
  if (options.watchHistory !== undefined) serverOptions.watchHistory = options.watchHistory;
  if (options.bookmarkIntervalMs !== undefined) serverOptions.bookmarkIntervalMs = options.bookmarkIntervalMs;
  if (options.persist ?? !temporary) serverOptions.stateDir = stateDir;
  const apiServer = new ApiServer(serverOptions);
  const cluster =
    options.cluster === false
      ? undefined
      : createCluster({ ...options.cluster, dir: join(stateDir, 'cluster') });
  cluster?.attach(apiServer);
  await apiServer.start();
  try {
    if (options.installCrds ?? true) {
      const dirs = [thirdPartyCrdDir(), join(packageRoot, 'crds'), ...(options.crdDirs ?? [])];
      for (const dir of dirs) installCrds(apiServer, await readCrds(dir));
    }
    const kubeconfigPath = join(stateDir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(apiServer.url), { mode: 0o600 });
    const clusterKc = new KubeConfig();
    clusterKc.loadFromString(kubeconfigYaml(apiServer.url));
    await cluster?.start(clusterKc);
    return {
      url: apiServer.url,
      kubeconfigPath,
      stateDir,
      apiServer,
      cluster,
      kubeConfig() {
        const kc = new KubeConfig();
        kc.loadFromString(kubeconfigYaml(apiServer.url));
        return kc;
      },
      resourceVersion: () => apiServer.resourceVersion,
      failNext: (rule) => apiServer.failNext(rule),
      dropWatches: (o) => apiServer.dropWatches(o),
      compactHistory: () => apiServer.compactHistory(),
      async stop() {
        // Pod processes die before the API they report to goes away.
        await cluster?.stop();
        await apiServer.stop();
        if (temporary) await rm(stateDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cluster?.stop();
    await apiServer.stop();
    if (temporary) await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
}
