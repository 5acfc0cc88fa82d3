/**
 * The seams between the sandbox API server (`apiserver/`) and the simulated cluster (`cluster/`), on the
 * cluster's side.
 *
 * A real kube-apiserver does not run containers or KubeVirt's subresources itself: it asks the kubelet for
 * a pod's log and proxies aggregated APIs (APIService) to their servers. The cluster implements those two
 * hops with these interfaces; `SimulatedCluster.attach(apiServer)` adapts them to the API server's hooks
 * (`setPodLogProvider`, `addRoute` with a discovery entry).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Query of `GET /api/v1/namespaces/{ns}/pods/{name}/log`, after the API server has resolved the pod and container. */
export interface PodLogRequest {
  namespace: string;
  pod: string;
  /** The pod's uid: a re-created pod with the same name has a different log. */
  uid: string;
  container: string;
  /** Log of the previous (restarted) instance of the container. */
  previous?: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
  timestamps?: boolean;
}

/** Where the API server reads container logs from (the kubelet's side of `pods/log`). */
export interface PodLogSource {
  /**
   * The container's log so far, or `undefined` when that container never started (the API server then
   * answers 400 like a real one: `container "c" in pod "p" is waiting to start: ContainerCreating`).
   */
  read(req: PodLogRequest): Promise<Buffer | undefined>;
  /**
   * `follow=true`: the log so far, then new chunks as they are written, ending when the container
   * terminates or `signal` aborts. `undefined` as for `read`.
   */
  follow(req: PodLogRequest, signal: AbortSignal): AsyncIterable<Buffer> | undefined;
}

/** One resource of an aggregated API, as listed by `/apis/<group>/<version>` discovery. */
export interface AggregatedResource {
  /** e.g. `virtualmachineinstances/freeze`. */
  name: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
}

/**
 * An API group/version served by another component and proxied by the API server (like an APIService):
 * the API server lists it in `/apis` and `/apis/<group>/<version>` and hands every request under
 * `/apis/<group>/<version>/` to `handle`, which must answer it (JSON, errors as `Status` objects).
 */
export interface AggregatedApi {
  group: string;
  version: string;
  resources: AggregatedResource[];
  /** `path` is the request path after `/apis/<group>/<version>` (starts with `/`), without the query. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): void | Promise<void>;
}
