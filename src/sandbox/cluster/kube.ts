/**
 * The simulated cluster's API access: @kubernetes/client-node's typed APIs for built-in kinds and
 * CustomObjectsApi for CRDs, behind one small interface over plain JSON objects (the typed APIs return
 * `Date`s; we convert everything to the wire form so list results and watch events look alike).
 */
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { KObject } from './objects.js';

/** A served resource. */
export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const core = (plural: string, kind: string, namespaced = true): Resource => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
});

/** The resources the simulated cluster reads or writes. */
export const RES = {
  pods: core('pods', 'Pod'),
  pvcs: core('persistentvolumeclaims', 'PersistentVolumeClaim'),
  pvs: core('persistentvolumes', 'PersistentVolume', false),
  secrets: core('secrets', 'Secret'),
  configmaps: core('configmaps', 'ConfigMap'),
  events: core('events', 'Event'),
  jobs: { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true },
  snapshots: {
    group: 'snapshot.storage.k8s.io',
    version: 'v1',
    plural: 'volumesnapshots',
    kind: 'VolumeSnapshot',
    namespaced: true,
  },
  snapshotContents: {
    group: 'snapshot.storage.k8s.io',
    version: 'v1',
    plural: 'volumesnapshotcontents',
    kind: 'VolumeSnapshotContent',
    namespaced: false,
  },
  snapshotClasses: {
    group: 'snapshot.storage.k8s.io',
    version: 'v1',
    plural: 'volumesnapshotclasses',
    kind: 'VolumeSnapshotClass',
    namespaced: false,
  },
  vms: {
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachines',
    kind: 'VirtualMachine',
    namespaced: true,
  },
  vmis: {
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachineinstances',
    kind: 'VirtualMachineInstance',
    namespaced: true,
  },
} satisfies Record<string, Resource>;

/** `apiVersion` of a resource. */
export function apiVersionOf(r: Resource): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** The collection path of a resource, e.g. `/api/v1/pods` (all namespaces) or `/apis/batch/v1/namespaces/ns/jobs`. */
export function collectionPath(r: Resource, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace && r.namespaced ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

/** Converts a typed client result to plain JSON (Dates to RFC 3339 strings). */
export function plain<T>(obj: unknown): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

/** HTTP status of an API error, if it is one. */
export function statusCode(e: unknown): number | undefined {
  if (e instanceof ApiException) return e.code;
  const code =
    (e as { code?: unknown; statusCode?: unknown } | undefined)?.code ??
    (e as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** A list result: items and the list's resourceVersion. */
export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- bridging plain JSON to the generated typed models */
type Body = any;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Typed operations of one built-in resource, over plain JSON. */
interface Ops {
  list(): Promise<unknown>;
  get(ns: string, name: string): Promise<unknown>;
  create(ns: string, body: Body): Promise<unknown>;
  replace(ns: string, name: string, body: Body): Promise<unknown>;
  replaceStatus?(ns: string, name: string, body: Body): Promise<unknown>;
  patchStatus?(ns: string, name: string, body: Body): Promise<unknown>;
  patch(ns: string, name: string, body: Body): Promise<unknown>;
  remove(ns: string, name: string, propagationPolicy?: string, gracePeriodSeconds?: number): Promise<unknown>;
}

/** Plain-JSON access to the API server for every resource in {@link RES}. */
export class Kube {
  private readonly coreApi: CoreV1Api;
  private readonly batchApi: BatchV1Api;
  private readonly customApi: CustomObjectsApi;
  private readonly builtin: Map<string, Ops>;

  constructor(readonly kc: KubeConfig) {
    this.coreApi = kc.makeApiClient(CoreV1Api);
    this.batchApi = kc.makeApiClient(BatchV1Api);
    this.customApi = kc.makeApiClient(CustomObjectsApi);
    const c = this.coreApi;
    const b = this.batchApi;
    this.builtin = new Map<string, Ops>([
      [
        'pods',
        {
          list: () => c.listPodForAllNamespaces(),
          get: (namespace, name) => c.readNamespacedPod({ namespace, name }),
          create: (namespace, body) => c.createNamespacedPod({ namespace, body }),
          replace: (namespace, name, body) => c.replaceNamespacedPod({ namespace, name, body }),
          replaceStatus: (namespace, name, body) => c.replaceNamespacedPodStatus({ namespace, name, body }),
          patchStatus: (namespace, name, body) =>
            c.patchNamespacedPodStatus({ namespace, name, body }, mergePatch),
          patch: (namespace, name, body) => c.patchNamespacedPod({ namespace, name, body }, mergePatch),
          remove: (namespace, name, propagationPolicy, gracePeriodSeconds) =>
            c.deleteNamespacedPod({ namespace, name, propagationPolicy, gracePeriodSeconds }),
        },
      ],
      [
        'persistentvolumeclaims',
        {
          list: () => c.listPersistentVolumeClaimForAllNamespaces(),
          get: (namespace, name) => c.readNamespacedPersistentVolumeClaim({ namespace, name }),
          create: (namespace, body) => c.createNamespacedPersistentVolumeClaim({ namespace, body }),
          replace: (namespace, name, body) =>
            c.replaceNamespacedPersistentVolumeClaim({ namespace, name, body }),
          replaceStatus: (namespace, name, body) =>
            c.replaceNamespacedPersistentVolumeClaimStatus({ namespace, name, body }),
          patchStatus: (namespace, name, body) =>
            c.patchNamespacedPersistentVolumeClaimStatus({ namespace, name, body }, mergePatch),
          patch: (namespace, name, body) =>
            c.patchNamespacedPersistentVolumeClaim({ namespace, name, body }, mergePatch),
          remove: (namespace, name, propagationPolicy) =>
            c.deleteNamespacedPersistentVolumeClaim({ namespace, name, propagationPolicy }),
        },
      ],
      [
        'persistentvolumes',
        {
          list: () => c.listPersistentVolume(),
          get: (_ns, name) => c.readPersistentVolume({ name }),
          create: (_ns, body) => c.createPersistentVolume({ body }),
          replace: (_ns, name, body) => c.replacePersistentVolume({ name, body }),
          replaceStatus: (_ns, name, body) => c.replacePersistentVolumeStatus({ name, body }),
          patchStatus: (_ns, name, body) => c.patchPersistentVolumeStatus({ name, body }, mergePatch),
          patch: (_ns, name, body) => c.patchPersistentVolume({ name, body }, mergePatch),
          remove: (_ns, name, propagationPolicy) => c.deletePersistentVolume({ name, propagationPolicy }),
        },
      ],
      [
        'secrets',
        {
          list: () => c.listSecretForAllNamespaces(),
          get: (namespace, name) => c.readNamespacedSecret({ namespace, name }),
          create: (namespace, body) => c.createNamespacedSecret({ namespace, body }),
          replace: (namespace, name, body) => c.replaceNamespacedSecret({ namespace, name, body }),
          patch: (namespace, name, body) => c.patchNamespacedSecret({ namespace, name, body }, mergePatch),
          remove: (namespace, name) => c.deleteNamespacedSecret({ namespace, name }),
        },
      ],
      [
        'configmaps',
        {
          list: () => c.listConfigMapForAllNamespaces(),
          get: (namespace, name) => c.readNamespacedConfigMap({ namespace, name }),
          create: (namespace, body) => c.createNamespacedConfigMap({ namespace, body }),
          replace: (namespace, name, body) => c.replaceNamespacedConfigMap({ namespace, name, body }),
          patch: (namespace, name, body) => c.patchNamespacedConfigMap({ namespace, name, body }, mergePatch),
          remove: (namespace, name) => c.deleteNamespacedConfigMap({ namespace, name }),
        },
      ],
      [
        'events',
        {
          list: () => c.listEventForAllNamespaces(),
          get: (namespace, name) => c.readNamespacedEvent({ namespace, name }),
          create: (namespace, body) => c.createNamespacedEvent({ namespace, body }),
          replace: (namespace, name, body) => c.replaceNamespacedEvent({ namespace, name, body }),
          patch: (namespace, name, body) => c.patchNamespacedEvent({ namespace, name, body }, mergePatch),
          remove: (namespace, name) => c.deleteNamespacedEvent({ namespace, name }),
        },
      ],
      [
        'jobs',
        {
          list: () => b.listJobForAllNamespaces(),
          get: (namespace, name) => b.readNamespacedJob({ namespace, name }),
          create: (namespace, body) => b.createNamespacedJob({ namespace, body }),
          replace: (namespace, name, body) => b.replaceNamespacedJob({ namespace, name, body }),
          replaceStatus: (namespace, name, body) => b.replaceNamespacedJobStatus({ namespace, name, body }),
          patchStatus: (namespace, name, body) =>
            b.patchNamespacedJobStatus({ namespace, name, body }, mergePatch),
          patch: (namespace, name, body) => b.patchNamespacedJob({ namespace, name, body }, mergePatch),
          remove: (namespace, name, propagationPolicy) =>
            b.deleteNamespacedJob({ namespace, name, propagationPolicy }),
        },
      ],
    ]);
  }

  private custom(r: Resource): Ops {
    const x = this.customApi;
    const { group, version, plural } = r;
    if (r.namespaced) {
      return {
        list: () => x.listClusterCustomObject({ group, version, plural }),
        get: (namespace, name) => x.getNamespacedCustomObject({ group, version, plural, namespace, name }),
        create: (namespace, body) =>
          x.createNamespacedCustomObject({ group, version, plural, namespace, body }),
        replace: (namespace, name, body) =>
          x.replaceNamespacedCustomObject({ group, version, plural, namespace, name, body }),
        replaceStatus: (namespace, name, body) =>
          x.replaceNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body }),
        patchStatus: (namespace, name, body) =>
          x.patchNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body }, mergePatch),
        patch: (namespace, name, body) =>
          x.patchNamespacedCustomObject({ group, version, plural, namespace, name, body }, mergePatch),
        remove: (namespace, name, propagationPolicy) =>
          x.deleteNamespacedCustomObject({ group, version, plural, namespace, name, propagationPolicy }),
      };
    }
    return {
      list: () => x.listClusterCustomObject({ group, version, plural }),
      get: (_ns, name) => x.getClusterCustomObject({ group, version, plural, name }),
      create: (_ns, body) => x.createClusterCustomObject({ group, version, plural, body }),
      replace: (_ns, name, body) => x.replaceClusterCustomObject({ group, version, plural, name, body }),
      replaceStatus: (_ns, name, body) =>
        x.replaceClusterCustomObjectStatus({ group, version, plural, name, body }),
      patchStatus: (_ns, name, body) =>
        x.patchClusterCustomObjectStatus({ group, version, plural, name, body }, mergePatch),
      patch: (_ns, name, body) =>
        x.patchClusterCustomObject({ group, version, plural, name, body }, mergePatch),
      remove: (_ns, name, propagationPolicy) =>
        x.deleteClusterCustomObject({ group, version, plural, name, propagationPolicy }),
    };
  }

  private ops(r: Resource): Ops {
    return r.group === '' || r.group === 'batch' ? this.builtin.get(r.plural)! : this.custom(r);
  }

  /** Lists all objects of a resource in all namespaces. */
  async list<T extends KObject>(r: Resource): Promise<ListResult<T>> {
    const res = plain<{ items?: T[]; metadata?: { resourceVersion?: string } }>(await this.ops(r).list());
    for (const item of res.items ?? []) {
      item.apiVersion ??= apiVersionOf(r);
      item.kind ??= r.kind;
    }
    return { items: res.items ?? [], resourceVersion: res.metadata?.resourceVersion ?? '' };
  }

  /** Reads one object, `undefined` when it does not exist. */
  async get<T extends KObject>(r: Resource, namespace: string, name: string): Promise<T | undefined> {
    try {
      return plain<T>(await this.ops(r).get(namespace, name));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /** Creates an object (namespace from its metadata). */
  async create<T extends KObject>(r: Resource, obj: T): Promise<T> {
    const body = { apiVersion: apiVersionOf(r), kind: r.kind, ...obj, metadata: { ...obj.metadata } };
    // An empty name means "use generateName", as on the wire.
    if (!body.metadata.name) delete (body.metadata as Partial<KObject['metadata']>).name;
    return plain<T>(await this.ops(r).create(obj.metadata.namespace ?? '', body));
  }

  /** Replaces an object (PUT, optimistic concurrency by its resourceVersion). */
  async replace<T extends KObject>(r: Resource, obj: T): Promise<T> {
    return plain<T>(await this.ops(r).replace(obj.metadata.namespace ?? '', obj.metadata.name, obj));
  }

  /** Replaces an object's status (PUT on the /status subresource). */
  async replaceStatus<T extends KObject>(r: Resource, obj: T): Promise<T> {
    const op = this.ops(r).replaceStatus;
    if (!op) throw new Error(`${r.plural} has no status subresource`);
    return plain<T>(await op(obj.metadata.namespace ?? '', obj.metadata.name, obj));
  }

  /** JSON merge patch (RFC 7386) of an object's /status subresource: no resourceVersion needed. */
  async patchStatus<T extends KObject>(
    r: Resource,
    namespace: string,
    name: string,
    status: object,
  ): Promise<T> {
    const op = this.ops(r).patchStatus;
    if (!op) throw new Error(`${r.plural} has no status subresource`);
    return plain<T>(await op(namespace, name, { status }));
  }

  /** JSON merge patch (RFC 7386) of an object. */
  async mergePatch<T extends KObject>(
    r: Resource,
    namespace: string,
    name: string,
    patch: object,
  ): Promise<T> {
    return plain<T>(await this.ops(r).patch(namespace, name, patch));
  }

  /** Deletes an object; `false` when it was already gone. */
  async delete(
    r: Resource,
    namespace: string,
    name: string,
    propagationPolicy?: 'Background' | 'Foreground' | 'Orphan',
    gracePeriodSeconds?: number,
  ): Promise<boolean> {
    try {
      await this.ops(r).remove(namespace, name, propagationPolicy, gracePeriodSeconds);
      return true;
    } catch (e) {
      if (statusCode(e) === 404) return false;
      throw e;
    }
  }

  /** Starts a watch of all namespaces from `resourceVersion`; `done` is called once when it ends. */
  watch(
    r: Resource,
    resourceVersion: string,
    onEvent: (type: string, obj: KObject) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return new Watch(this.kc).watch(
      collectionPath(r),
      { resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: unknown) => onEvent(type, obj as KObject),
      done,
    );
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */
