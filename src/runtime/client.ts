/**
 * The kube client: typed CRUD for any {@link ResourceKind}, merge-patch (main object and `/status`),
 * and a raw request helper for subresources client-node does not model (pod logs, KubeVirt
 * freeze/unfreeze). Authentication and TLS come from client-node's KubeConfig; failures become
 * {@link ApiError}s classified from the Status body.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ApiError, type StatusBody } from './errors.js';
import type { ResourceKind } from './kinds.js';

/** Content types of PATCH. Custom resources accept only merge and json patch. */
export const PatchType = {
  Merge: 'application/merge-patch+json',
  Json: 'application/json-patch+json',
  StrategicMerge: 'application/strategic-merge-patch+json',
} as const;
/** One of {@link PatchType}'s values. */
export type PatchType = (typeof PatchType)[keyof typeof PatchType];

/** Options of {@link KubeClient.list}. */
export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the client follows `continue` tokens and returns every item. */
  limit?: number;
}

/** A list answer: the items and the list's resourceVersion (where a watch would start). */
export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** Options of {@link KubeClient.delete}. */
export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Delete only if the object still has this uid / resourceVersion (409 otherwise). */
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Resolve (false) instead of throwing when the object is already gone. */
  ignoreNotFound?: boolean;
}

/** A raw request: `path` is the absolute API path, e.g. `/api/v1/namespaces/x/pods/y/log`. */
export interface RawRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Serialized as JSON unless already a string or Buffer. */
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

/** Observes every request the client makes (metrics hook): verb, resource plural, HTTP code (0 = no answer). */
export type RequestObserver = (info: {
  method: string;
  resource: string;
  code: number;
  durationMs: number;
}) => void;

/** Builds the REST path of a kind, optionally of one object and one subresource. */
export function resourcePath(
  kind: ResourceKind,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let path = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  if (kind.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${kind.plural}`;
  if (name !== undefined) {
    if (name === '') throw new Error(`${kind.kind}: empty object name`);
    path += `/${encodeURIComponent(name)}`;
    if (subresource) path += `/${subresource}`;
  }
  return path;
}

function namespaceOf(kind: ResourceKind, obj: KubernetesObject): string | undefined {
  if (!kind.namespaced) return undefined;
  const ns = obj.metadata?.namespace;
  if (!ns) throw new Error(`${kind.kind} ${obj.metadata?.name ?? ''}: metadata.namespace is required`);
  return ns;
}

function nameOf(kind: ResourceKind, obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${kind.kind}: metadata.name is required`);
  return name;
}

/** The client every controller uses. One instance per process; safe for concurrent use. */
export class KubeClient {
  readonly kubeConfig: KubeConfig;
  private readonly server: URL;
  private agent: http.Agent | undefined;
  private readonly observers: RequestObserver[] = [];

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster: set a current-context');
    this.server = new URL(cluster.server);
  }

  /** Registers a request observer (metrics). */
  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  /** Reads one object; throws NotFound. */
  async get<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace: string | undefined,
    name: string,
  ): Promise<T> {
    return this.request<T>({ method: 'GET', path: resourcePath(kind, namespace, name) });
  }

  /** Reads one object, or undefined when it does not exist. */
  async tryGet<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.get(kind, namespace, name);
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'NotFound') return undefined;
      throw err;
    }
  }

  /** Lists objects of a kind in one namespace (or all when undefined), following pagination. */
  async list<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace?: string,
    opts: ListOptions = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.request<{
        items?: T[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>({
        method: 'GET',
        path: resourcePath(kind, namespace),
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: opts.limit,
          continue: cont,
        },
      });
      for (const item of page.items ?? []) {
        // List items come without apiVersion/kind; fill them so objects look the same as from get/watch.
        items.push({ ...item, apiVersion: kind.apiVersion, kind: kind.kind });
      }
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  /** Creates an object in `metadata.namespace`; throws AlreadyExists for a taken name. */
  async create<T extends KubernetesObject>(kind: ResourceKind<T>, obj: T): Promise<T> {
    const body = { ...obj, apiVersion: kind.apiVersion, kind: kind.kind };
    return this.request<T>({ method: 'POST', path: resourcePath(kind, namespaceOf(kind, obj)), body });
  }

  /** Replaces (PUT) an object; its `metadata.resourceVersion` guards against lost updates (409 Conflict). */
  async replace<T extends KubernetesObject>(kind: ResourceKind<T>, obj: T): Promise<T> {
    const body = { ...obj, apiVersion: kind.apiVersion, kind: kind.kind };
    return this.request<T>({
      method: 'PUT',
      path: resourcePath(kind, namespaceOf(kind, obj), nameOf(kind, obj)),
      body,
    });
  }

  /** Replaces (PUT) the `/status` subresource of an object. */
  async replaceStatus<T extends KubernetesObject>(kind: ResourceKind<T>, obj: T): Promise<T> {
    const body = { ...obj, apiVersion: kind.apiVersion, kind: kind.kind };
    const path = resourcePath(kind, namespaceOf(kind, obj), nameOf(kind, obj), 'status');
    return this.request<T>({ method: 'PUT', path, body });
  }

  /**
   * Patches an object, by default with a JSON merge patch (RFC 7386). Put `metadata.resourceVersion` in a
   * merge patch to make it conditional (409 Conflict when stale).
   */
  async patch<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType = PatchType.Merge,
  ): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path: resourcePath(kind, namespace, name),
      body: patch,
      contentType: type,
    });
  }

  /**
   * Merge-patches the `/status` subresource with `{ status }` (only status changes; never generation).
   * Arrays such as `conditions` are replaced whole, as merge patch does: send the full list. With
   * `resourceVersion`, the write fails with 409 Conflict if the object changed since it was read.
   */
  async patchStatus<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace: string | undefined,
    name: string,
    status: unknown,
    opts: { resourceVersion?: string } = {},
  ): Promise<T> {
    const body: Record<string, unknown> = { status };
    if (opts.resourceVersion) body.metadata = { resourceVersion: opts.resourceVersion };
    const path = resourcePath(kind, namespace, name, 'status');
    return this.request<T>({ method: 'PATCH', path, body, contentType: PatchType.Merge });
  }

  /**
   * Deletes an object (the API server keeps it, with deletionTimestamp set, while finalizers remain).
   * Resolves true when this call deleted or started deleting it, false when it was gone already
   * and `ignoreNotFound` was set.
   */
  async delete(
    kind: ResourceKind,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    try {
      await this.request({ method: 'DELETE', path: resourcePath(kind, namespace, name), body });
      return true;
    } catch (err) {
      if (opts.ignoreNotFound && err instanceof ApiError && err.reason === 'NotFound') return false;
      throw err;
    }
  }

  /** Reads a pod's log (one container; the last `tailLines` lines / `limitBytes` bytes when given). */
  async podLogs(
    namespace: string,
    pod: string,
    opts: { container?: string; tailLines?: number; limitBytes?: number; previous?: boolean } = {},
  ): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`;
    const buf = await this.requestRaw({ method: 'GET', path, query: { ...opts }, accept: 'text/plain, */*' });
    return buf.toString('utf8');
  }

  /**
   * Freezes a running VM's guest filesystems through the KubeVirt guest agent
   * (`PUT .../virtualmachineinstances/{name}/freeze`). KubeVirt thaws by itself after `unfreezeTimeout`
   * (a Go duration such as "5m") if nobody calls {@link unfreezeVM}.
   */
  async freezeVM(namespace: string, vmi: string, unfreezeTimeout?: string): Promise<void> {
    await this.requestRaw({
      method: 'PUT',
      path: `${kubevirtSubresourcePath(namespace, vmi)}/freeze`,
      body: unfreezeTimeout ? { unfreezeTimeout } : {},
    });
  }

  /** Thaws a VM's guest filesystems (`PUT .../virtualmachineinstances/{name}/unfreeze`). */
  async unfreezeVM(namespace: string, vmi: string): Promise<void> {
    await this.requestRaw({
      method: 'PUT',
      path: `${kubevirtSubresourcePath(namespace, vmi)}/unfreeze`,
      body: {},
    });
  }

  /** Sends a request and parses a JSON answer (an empty answer resolves to `{}`). */
  async request<T = unknown>(req: RawRequest): Promise<T> {
    const buf = await this.requestRaw(req);
    if (buf.length === 0) return {} as T;
    return JSON.parse(buf.toString('utf8')) as T;
  }

  /** Sends a request and resolves with the raw body of a 2xx answer; anything else becomes an ApiError. */
  async requestRaw(req: RawRequest): Promise<Buffer> {
    const url = new URL(this.server.href.replace(/\/$/, '') + req.path);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    const opts: https.RequestOptions = { method: req.method, headers: {} };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    // client-node builds a fresh agent on every call; keep the first so connections can be reused.
    this.agent ??= opts.agent as http.Agent | undefined;
    opts.agent = this.agent;
    const headers = (opts.headers ?? {}) as Record<string, string>;
    headers.accept = req.accept ?? 'application/json';
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.isBuffer(req.body)
        ? req.body
        : Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    opts.headers = headers;
    if (req.signal) opts.signal = req.signal;
    const started = Date.now();
    const resource = resourceOfPath(req.path);
    const transport = url.protocol === 'https:' ? https : http;
    let code = 0;
    try {
      const { status, body } = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const r = transport.request(url, opts, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        r.on('error', reject);
        r.end(payload);
      });
      code = status;
      if (status >= 200 && status < 300) return body;
      let parsed: StatusBody | undefined;
      try {
        const json = JSON.parse(body.toString('utf8')) as StatusBody;
        if (json && typeof json === 'object') parsed = json;
      } catch {
        // not JSON: the plain text becomes the message
      }
      throw new ApiError({
        code: status,
        method: req.method,
        path: req.path,
        status: parsed,
        message: parsed ? undefined : body.toString('utf8').slice(0, 500) || `HTTP ${status}`,
      });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError({
        code: 0,
        method: req.method,
        path: req.path,
        message: (err as Error).message,
        cause: err,
      });
    } finally {
      const durationMs = Date.now() - started;
      for (const observe of this.observers) observe({ method: req.method, resource, code, durationMs });
    }
  }
}

function kubevirtSubresourcePath(namespace: string, vmi: string): string {
  return `/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualmachineinstances/${encodeURIComponent(vmi)}`;
}

/** The resource plural (with subresource) of an API path, for metrics labels without object names. */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  let i = parts[0] === 'api' ? 2 : 3;
  if (parts[i] === 'namespaces' && parts.length > i + 2) i += 2;
  const resource = parts[i] ?? parts[parts.length - 1] ?? '';
  const sub = parts.length > i + 2 ? `/${parts[i + 2]}` : '';
  return resource + sub;
}
