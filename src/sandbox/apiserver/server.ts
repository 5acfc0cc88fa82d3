/**
 * The HTTP front of the Kubernetes API emulator on node:http: routing of discovery, OpenAPI and resource
 * paths, content negotiation (JSON, Table, patch types), Status errors, watch streams, the pod `log`
 * subresource, extension routes for add-on APIs, fault injection and optional persistence.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import type { AggregatedApi, PodLogRequest, PodLogSource } from '../extensions.js';
import type { SchemaAdmission } from './admission.js';
import { builtinResources } from './builtins.js';
import { CRD_CLEANUP_FINALIZER, crdStatus, validateCrd } from './crds.js';
import { Discovery, SERVER_VERSION, type ExtraDiscoveryResource } from './discovery.js';
import { ApiError, badRequest, internalError, methodNotAllowed, notFound, statusForCode } from './errors.js';
import { Faults, type FaultRule } from './faults.js';
import { RequestCounter, requestResource, requestUser, requestVerb } from './requests.js';
import { ServerControllers } from './gc.js';
import { OpenApi } from './openapi.js';
import { Persistence } from './persistence.js';
import { TaskQueue } from './queue.js';
import { Rest, type DeleteOptions } from './rest.js';
import { SCHEMA_ADMISSION, structuralCauses } from './schema-admission.js';
import { ResourceRegistry, apiVersionOf, resourceKey, type ResourceDefinition } from './resources.js';
import { parseFieldSelector, parseLabelSelector, fieldsOf, labelsOf } from './selectors.js';
import { ObjectStore } from './store.js';
import { toTable, wantsTable } from './table.js';
import { isObject, type Json, type KubeObject } from './types.js';
import { WatchHub } from './watch.js';

/** Options of the API server. */
export interface ApiServerOptions {
  /** Port on 127.0.0.1 (0, the default, picks a free one). */
  port?: number;
  /** Watch history window in events: a watch from an older resourceVersion gets 410 Expired. */
  watchHistory?: number;
  /** Interval of BOOKMARK events on watches that allow them (ms). */
  bookmarkIntervalMs?: number;
  /** Directory to persist the store in; nothing is persisted without it. */
  stateDir?: string;
  /** The schema engine for custom resources (defaults to `src/schema/`). */
  admission?: SchemaAdmission;
  /** Where `pods/log` reads container logs from (the simulated kubelet). */
  logs?: PodLogSource;
  /** API groups served by other components (KubeVirt's subresources), proxied like APIServices. */
  aggregatedApis?: AggregatedApi[];
  /** Structural-schema check for CRDs (defaults to `src/schema/`'s). */
  structural?: (schema: import('./types.js').JsonObject) => import('./errors.js').FieldCause[];
}

/** Options a pod log request carries (for a `PodLogProvider`). */
export interface PodLogOptions {
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
}

/**
 * A function-style pod log source: text, a stream (for `follow`), or undefined while the container has
 * not started. The API server applies `tailLines` and `limitBytes` to text answers.
 */
export type PodLogProvider = (
  namespace: string,
  pod: string,
  options: PodLogOptions,
) => Promise<string | Readable | undefined> | string | Readable | undefined;

/** What an extension route handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  match: RegExpExecArray;
  /** The request body parsed as JSON (undefined when empty). */
  body(): Promise<Json | undefined>;
}

/** An extra API path served by an add-on (e.g. KubeVirt's freeze subresource). */
export interface ExtensionRoute {
  method: string;
  path: RegExp;
  /** Returns a JSON value to answer 200 with, or writes `res` itself; throws ApiError for a Status. */
  handler: (ctx: RouteContext) => Promise<unknown> | unknown;
}

const MAX_BODY = 32 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(buf: Buffer): Json | undefined {
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as Json;
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

interface ResourcePath {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
}

/** Splits `/api/v1/...` and `/apis/g/v/...` resource paths. */
function parseResourcePath(group: string, version: string, rest: string): ResourcePath | undefined {
  const segs = rest
    .split('/')
    .filter((s) => s.length > 0)
    .map(decodeURIComponent);
  if (segs.length === 0) return undefined;
  if (
    segs[0] === 'namespaces' &&
    segs.length >= 3 &&
    !(segs.length === 3 && ['status', 'finalize'].includes(segs[2]))
  ) {
    const out: ResourcePath = { group, version, namespace: segs[1], resource: segs[2] };
    if (segs[3] !== undefined) out.name = segs[3];
    if (segs[4] !== undefined) out.subresource = segs[4];
    if (segs.length > 5) return undefined;
    return out;
  }
  const out: ResourcePath = { group, version, resource: segs[0] };
  if (segs[1] !== undefined) out.name = segs[1];
  if (segs[2] !== undefined) out.subresource = segs[2];
  if (segs.length > 3) return undefined;
  return out;
}

function notServed(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

/** The Kubernetes API emulator. */
export class ApiServer {
  readonly registry = new ResourceRegistry();
  readonly store: ObjectStore;
  readonly rest: Rest;
  readonly faults = new Faults();
  /** Requests answered, by user, verb and resource (benchmarks count a controller's requests here). */
  readonly requests = new RequestCounter();
  private readonly queue = new TaskQueue();
  private readonly watches: WatchHub;
  private readonly discovery: Discovery;
  private readonly openapi: OpenApi;
  private readonly persistence: Persistence | undefined;
  private readonly routes: ExtensionRoute[] = [];
  private readonly extraDiscovery: ExtraDiscoveryResource[] = [];
  private readonly sockets = new Set<Socket>();
  private admission: SchemaAdmission;
  private structural: ApiServerOptions['structural'];
  private logs: PodLogSource | undefined;
  private logProvider: PodLogProvider | undefined;
  private readonly aggregated: AggregatedApi[] = [];
  private server: Server | undefined;
  private baseUrl = '';

  constructor(private readonly options: ApiServerOptions = {}) {
    this.store = new ObjectStore(options.watchHistory ?? 10_000);
    this.admission = options.admission ?? SCHEMA_ADMISSION;
    this.structural = options.structural ?? structuralCauses;
    this.rest = new Rest(this.store, this.registry, () => this.admission);
    for (const def of builtinResources()) {
      if (resourceKey(def) === 'apiextensions.k8s.io/customresourcedefinitions') {
        def.prepareForCreate = (obj) => {
          const fins = (obj.metadata.finalizers ??= []);
          if (!fins.includes(CRD_CLEANUP_FINALIZER)) fins.push(CRD_CLEANUP_FINALIZER);
          obj.status = crdStatus(obj);
        };
        def.validate = (obj) => validateCrd(obj, this.structural);
      }
      this.registry.register(def);
    }
    new ServerControllers(this.store, this.registry, this.rest, this.queue).syncCrds();
    this.watches = new WatchHub(this.store, this.rest, options.bookmarkIntervalMs ?? 60_000);
    this.logs = options.logs;
    for (const api of options.aggregatedApis ?? []) this.addAggregatedApi(api);
    this.discovery = new Discovery(this.registry, () => this.extraDiscovery);
    this.openapi = new OpenApi(this.registry);
    if (options.stateDir) {
      this.persistence = new Persistence(options.stateDir, this.store);
      this.store.subscribe(() => this.persistence?.changed());
    }
  }

  /** Base URL, e.g. `http://127.0.0.1:39123`, once listening. */
  get url(): string {
    return this.baseUrl;
  }

  /** The current global resourceVersion (cheap, for tests). */
  get resourceVersion(): number {
    return this.store.resourceVersion;
  }

  /** Replaces the schema engine (when `src/schema/` is available). */
  setAdmission(admission: SchemaAdmission, structural?: ApiServerOptions['structural']): void {
    this.admission = admission;
    if (structural) this.structural = structural;
  }

  /** Sets a function-style source of pod logs (takes precedence over a `PodLogSource`). */
  setPodLogProvider(provider: PodLogProvider | undefined): void {
    this.logProvider = provider;
  }

  /** Sets the source of `GET .../pods/{name}/log` (the simulated kubelet's log store). */
  setPodLogSource(source: PodLogSource | undefined): void {
    this.logs = source;
  }

  /** Serves an aggregated API group/version: listed in discovery, every request under it proxied. */
  addAggregatedApi(api: AggregatedApi): void {
    this.aggregated.push(api);
    const groupVersion = `${api.group}/${api.version}`;
    for (const r of api.resources) {
      this.extraDiscovery.push({
        groupVersion,
        resource: { name: r.name, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: r.verbs },
      });
    }
  }

  /** Serves an extra path (checked before the built-in routes); optional discovery entry for it. */
  addRoute(route: ExtensionRoute, discovery?: ExtraDiscoveryResource): void {
    this.routes.push(route);
    if (discovery) this.extraDiscovery.push(discovery);
  }

  /** Makes the next matching requests fail. */
  failNext(rule: FaultRule): void {
    this.faults.failNext(rule);
  }

  /** Closes every watch stream (optionally with an ERROR 410 first); returns how many were open. */
  dropWatches(options: { expired?: boolean } = {}): number {
    return this.watches.dropAll(options);
  }

  /** Holds watch events back until `resumeWatchEvents`. */
  pauseWatchEvents(): void {
    this.watches.pauseEvents();
  }

  /** Sends held-back watch events. */
  resumeWatchEvents(): void {
    this.watches.resumeEvents();
  }

  /** Forgets the watch history: watches from any resourceVersion before now get 410 Expired. */
  compactHistory(): void {
    this.store.compact();
  }

  /** Number of open watch streams. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Resolves when the server's own controllers (GC, namespace, CRD cleanup) have nothing queued. */
  settled(): Promise<void> {
    return this.queue.idle();
  }

  /** Loads saved state and starts listening on 127.0.0.1. */
  async start(): Promise<void> {
    const snapshot = await this.persistence?.load();
    if (snapshot) {
      this.store.restore(snapshot);
      new ServerControllers(this.store, this.registry, this.rest, new TaskQueue()).syncCrds();
    }
    this.ensureNamespace('default');
    this.ensureNamespace('kube-system');
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const addr = server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${addr.port}`;
  }

  private ensureNamespace(name: string): void {
    const def = this.registry.get('/namespaces')!;
    if (this.store.get('/namespaces', `/${name}`)) return;
    this.rest.create(def, 'v1', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  /** Closes watches and connections, writes state, stops listening. */
  async stop(): Promise<void> {
    this.queue.stop();
    this.watches.dropAll();
    const server = this.server;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const s of this.sockets) s.destroy();
      await closed;
    }
    await this.persistence?.flush();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    this.requests.record(
      requestUser(req.headers.authorization),
      requestVerb(method, url),
      requestResource(url.pathname),
    );
    try {
      const fault = this.faults.take(method, url.pathname + url.search);
      if (fault) throw statusForCode(fault.code, fault.message);
      for (const route of this.routes) {
        if (route.method.toUpperCase() !== method) continue;
        route.path.lastIndex = 0;
        const match = route.path.exec(url.pathname);
        if (!match) continue;
        const result = await route.handler({
          req,
          res,
          url,
          match,
          body: async () => parseJson(await readBody(req)),
        });
        if (!res.headersSent) sendJson(res, 200, result ?? {});
        return;
      }
      await this.route(req, res, url, method);
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : internalError((err as Error).message);
      if (!res.headersSent) sendJson(res, apiErr.code, apiErr.toStatus());
      else res.end();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    for (const api of this.aggregated) {
      const prefix = `/apis/${api.group}/${api.version}`;
      if (path.startsWith(`${prefix}/`)) return api.handle(req, res, url.pathname.slice(prefix.length));
    }
    switch (path) {
      case '/version':
        return sendJson(res, 200, SERVER_VERSION);
      case '/healthz':
      case '/livez':
      case '/readyz':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
        return;
      case '/api':
        return sendJson(res, 200, this.discovery.coreVersions(req.headers.host ?? '127.0.0.1'));
      case '/apis':
        return sendJson(res, 200, this.discovery.groupList());
      case '/openapi/v2':
        return this.openapi.serveV2(req, res);
    }
    const core = /^\/api\/(v1)(\/.*)?$/.exec(path);
    const named = core ? null : /^\/apis\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (!core && !named) {
      const groupOnly = /^\/apis\/([^/]+)$/.exec(path);
      const doc = groupOnly ? this.discovery.group(groupOnly[1]) : undefined;
      if (!doc) throw notServed();
      return sendJson(res, 200, doc);
    }
    const group = named ? named[1] : '';
    const version = named ? named[2] : core![1];
    const rest = (named ? named[3] : core![2]) ?? '';
    if (rest === '' || rest === '/') {
      const doc = this.discovery.resources(group, version);
      if (!doc) throw notServed();
      return sendJson(res, 200, doc);
    }
    const rp = parseResourcePath(group, version, rest);
    if (!rp) throw notServed();
    const def = this.registry.lookup(group, version, rp.resource);
    if (!def) throw notServed();
    if (rp.namespace !== undefined && !def.namespaced) throw notServed();
    if (rp.namespace === undefined && def.namespaced && rp.name !== undefined) throw notServed();
    await this.serveResource(req, res, url, method, def, rp);
  }

  private async serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
    def: ResourceDefinition,
    rp: ResourcePath,
  ): Promise<void> {
    const q = url.searchParams;
    const dryRun = q.getAll('dryRun').includes('All');
    const { version, namespace, name, subresource } = rp;
    const accept = req.headers.accept ?? '';
    const out = (code: number, obj: KubeObject): void => {
      const served = this.rest.served(def, version, obj);
      if (wantsTable(accept) && method === 'GET') {
        return sendJson(
          res,
          code,
          toTable(def, version, [served], { resourceVersion: '' }, accept, q.get('includeObject')),
        );
      }
      sendJson(res, code, served);
    };

    if (name === undefined) {
      if (method === 'GET') return this.listOrWatch(req, res, q, def, version, namespace);
      if (method === 'POST') {
        if (def.namespaced && namespace === undefined) throw methodNotAllowed();
        const body = parseJson(await readBody(req));
        return out(201, this.rest.create(def, version, namespace, body ?? null, dryRun));
      }
      if (method === 'DELETE') return this.deleteCollection(req, res, q, def, version, namespace);
      throw methodNotAllowed();
    }

    if (subresource === undefined) {
      switch (method) {
        case 'GET':
          return out(200, this.rest.get(def, namespace, name));
        case 'PUT':
          return out(
            200,
            this.rest.update(
              def,
              version,
              namespace,
              name,
              parseJson(await readBody(req)) ?? null,
              undefined,
              dryRun,
            ),
          );
        case 'PATCH': {
          const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
          const body = parseJson(await readBody(req)) ?? null;
          return out(200, this.rest.patch(def, version, namespace, name, type, body, undefined, dryRun));
        }
        case 'DELETE': {
          const options = await this.deleteOptions(req, q);
          const result = this.rest.delete(def, namespace, name, options);
          if (result.deleted && !def.custom) {
            return sendJson(res, 200, {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Success',
              details: { name, group: def.group, kind: def.plural, uid: result.object.metadata.uid },
            });
          }
          return out(200, result.object);
        }
      }
      throw methodNotAllowed();
    }

    if (subresource === 'status' && def.statusSubresource) {
      switch (method) {
        case 'GET':
          return out(200, this.rest.get(def, namespace, name));
        case 'PUT':
          return out(
            200,
            this.rest.update(
              def,
              version,
              namespace,
              name,
              parseJson(await readBody(req)) ?? null,
              'status',
              dryRun,
            ),
          );
        case 'PATCH': {
          const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
          const body = parseJson(await readBody(req)) ?? null;
          return out(200, this.rest.patch(def, version, namespace, name, type, body, 'status', dryRun));
        }
      }
      throw methodNotAllowed();
    }
    if (subresource === 'finalize' && def.group === '' && def.kind === 'Namespace' && method === 'PUT') {
      return out(200, this.finalizeNamespace(name, parseJson(await readBody(req)) ?? null));
    }
    if (subresource === 'log' && def.group === '' && def.kind === 'Pod' && method === 'GET') {
      return this.podLog(res, q, namespace ?? '', name);
    }
    throw notServed();
  }

  private finalizeNamespace(name: string, body: Json): KubeObject {
    const def = this.registry.get('/namespaces')!;
    const old = this.rest.get(def, undefined, name);
    const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
    const next = structuredClone(old);
    next.spec = {
      ...(isObject(old.spec) ? old.spec : {}),
      finalizers: Array.isArray(spec.finalizers) ? spec.finalizers : [],
    };
    next.metadata.resourceVersion = String(this.store.nextRv());
    const fins = (next.spec as { finalizers: Json[] }).finalizers;
    if (old.metadata.deletionTimestamp && fins.length === 0 && (old.metadata.finalizers ?? []).length === 0) {
      this.store.remove('/namespaces', `/${name}`, next);
    } else this.store.update('/namespaces', `/${name}`, next);
    return next;
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions> {
    const body = parseJson(await readBody(req));
    const options: DeleteOptions = {};
    const src = isObject(body) ? body : {};
    const policy = (src.propagationPolicy ?? q.get('propagationPolicy') ?? undefined) as string | undefined;
    if (policy !== undefined) {
      if (!['Background', 'Foreground', 'Orphan'].includes(policy)) {
        throw badRequest(
          `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
        );
      }
      options.propagationPolicy = policy as DeleteOptions['propagationPolicy'];
    }
    const orphan =
      src.orphanDependents ?? (q.has('orphanDependents') ? q.get('orphanDependents') === 'true' : undefined);
    if (typeof orphan === 'boolean') options.orphanDependents = orphan;
    if (isObject(src.preconditions)) {
      options.preconditions = {};
      if (typeof src.preconditions.uid === 'string') options.preconditions.uid = src.preconditions.uid;
      if (typeof src.preconditions.resourceVersion === 'string') {
        options.preconditions.resourceVersion = src.preconditions.resourceVersion;
      }
    }
    if ((Array.isArray(src.dryRun) && src.dryRun.includes('All')) || q.getAll('dryRun').includes('All'))
      options.dryRun = true;
    return options;
  }

  private selected(q: URLSearchParams, def: ResourceDefinition, namespace: string | undefined): KubeObject[] {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'), resourceKey(def));
    return this.rest
      .list(def, namespace)
      .filter((o) => labels.matches(labelsOf(o)) && fields.matches(fieldsOf(o)));
  }

  private listOrWatch(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    def: ResourceDefinition,
    version: string,
    namespace: string | undefined,
  ): void {
    const watch = q.get('watch');
    if (watch === 'true' || watch === '1') {
      const rv = q.get('resourceVersion') ?? '';
      if (rv !== '' && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
      const timeout = q.get('timeoutSeconds');
      const accept = req.headers.accept ?? '';
      this.watches.serve(
        {
          def,
          version,
          ...(namespace !== undefined ? { namespace } : {}),
          labels: parseLabelSelector(q.get('labelSelector')),
          fields: parseFieldSelector(q.get('fieldSelector'), resourceKey(def)),
          resourceVersion: rv,
          allowBookmarks: q.get('allowWatchBookmarks') === 'true',
          ...(timeout !== null && /^\d+$/.test(timeout) ? { timeoutSeconds: Number(timeout) } : {}),
          ...(wantsTable(accept)
            ? {
                transform: (o: KubeObject) =>
                  toTable(
                    def,
                    version,
                    [o],
                    { resourceVersion: o.metadata.resourceVersion ?? '' },
                    accept,
                    q.get('includeObject'),
                  ),
              }
            : {}),
        },
        res,
      );
      return;
    }
    const listRv = String(this.store.resourceVersion);
    let items = this.selected(q, def, namespace);
    let next: string | undefined;
    const limit = Number(q.get('limit') ?? '0');
    const cont = q.get('continue');
    if (cont) {
      let start: string;
      try {
        start = (JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { start: string }).start;
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > start);
    }
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      const last = items[items.length - 1];
      next = Buffer.from(
        JSON.stringify({ rv: listRv, start: `${last.metadata.namespace ?? ''}/${last.metadata.name}` }),
      ).toString('base64url');
    }
    const served = items.map((o) => this.rest.served(def, version, o));
    const accept = req.headers.accept ?? '';
    if (wantsTable(accept)) {
      return sendJson(
        res,
        200,
        toTable(
          def,
          version,
          served,
          { resourceVersion: listRv, ...(next ? { continue: next } : {}) },
          accept,
          q.get('includeObject'),
        ),
      );
    }
    sendJson(res, 200, {
      apiVersion: apiVersionOf(def.group, version),
      kind: def.listKind,
      metadata: { resourceVersion: listRv, ...(next ? { continue: next } : {}) },
      items: served,
    });
  }

  private async deleteCollection(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    def: ResourceDefinition,
    version: string,
    namespace: string | undefined,
  ): Promise<void> {
    const options = await this.deleteOptions(req, q);
    const items: KubeObject[] = [];
    for (const obj of this.selected(q, def, namespace)) {
      try {
        items.push(
          this.rest.served(
            def,
            version,
            this.rest.delete(def, obj.metadata.namespace, obj.metadata.name ?? '', options).object,
          ),
        );
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    sendJson(res, 200, {
      apiVersion: apiVersionOf(def.group, version),
      kind: def.listKind,
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    });
  }

  private async podLog(
    res: ServerResponse,
    q: URLSearchParams,
    namespace: string,
    name: string,
  ): Promise<void> {
    const def = this.registry.get('/pods')!;
    const pod = this.rest.get(def, namespace, name);
    const spec = isObject(pod.spec) ? pod.spec : {};
    const containers = (Array.isArray(spec.containers) ? spec.containers : [])
      .filter(isObject)
      .map((c) => String(c.name ?? ''));
    let container = q.get('container') ?? '';
    if (!container) {
      if (containers.length !== 1) {
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`,
        );
      }
      container = containers[0];
    } else if (!containers.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    }
    const num = (k: string): number | undefined =>
      q.has(k) && /^\d+$/.test(q.get(k)!) ? Number(q.get(k)) : undefined;
    const request: PodLogRequest = { namespace, pod: name, uid: pod.metadata.uid ?? '', container };
    if (q.get('previous') === 'true') request.previous = true;
    if (q.get('timestamps') === 'true') request.timestamps = true;
    const tail = num('tailLines');
    const limitBytes = num('limitBytes');
    const since = num('sinceSeconds');
    if (tail !== undefined) request.tailLines = tail;
    if (limitBytes !== undefined) request.limitBytes = limitBytes;
    if (since !== undefined) request.sinceSeconds = since;
    const waiting = (): ApiError =>
      badRequest(`container "${container}" in pod "${name}" is waiting to start: ContainerCreating`);
    if (this.logProvider)
      return sendProvidedLog(res, this.logProvider, request, q.get('follow') === 'true', waiting);
    if (q.get('follow') !== 'true') {
      const log = await this.logs?.read(request);
      if (log === undefined) throw waiting();
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': log.length });
      res.end(log);
      return;
    }
    const abort = new AbortController();
    const stream = this.logs?.follow(request, abort.signal);
    if (stream === undefined) throw waiting();
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.on('close', () => abort.abort());
    try {
      for await (const chunk of stream) {
        if (res.destroyed) break;
        res.write(chunk);
      }
    } finally {
      abort.abort();
      if (!res.writableEnded) res.end();
    }
  }
}

async function sendProvidedLog(
  res: ServerResponse,
  provider: PodLogProvider,
  request: PodLogRequest,
  follow: boolean,
  waiting: () => ApiError,
): Promise<void> {
  const options: PodLogOptions = {
    container: request.container,
    follow,
    previous: request.previous === true,
    timestamps: request.timestamps === true,
  };
  if (request.tailLines !== undefined) options.tailLines = request.tailLines;
  if (request.limitBytes !== undefined) options.limitBytes = request.limitBytes;
  if (request.sinceSeconds !== undefined) options.sinceSeconds = request.sinceSeconds;
  const log = await provider(request.namespace, request.pod, options);
  if (log === undefined) throw waiting();
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  if (typeof log !== 'string') {
    log.pipe(res);
    res.on('close', () => log.destroy());
    return;
  }
  let text = log;
  if (options.tailLines !== undefined) {
    const lines = text.split('\n');
    const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
    text =
      lines.slice(Math.max(0, lines.length - options.tailLines)).join('\n') +
      (trailing !== undefined ? '\n' : '');
  }
  if (options.limitBytes !== undefined)
    text = Buffer.from(text).subarray(0, options.limitBytes).toString('utf8');
  res.end(text);
}

/** Re-exported for extension routes. */
export { ApiError, notFound };
