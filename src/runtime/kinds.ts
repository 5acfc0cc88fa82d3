/**
 * Resource kinds as the runtime addresses them: group, version, kind, plural and scope, enough to build
 * REST paths without discovery. A {@link ResourceKind} carries the TypeScript type of its objects, so
 * `client.get(Kinds.Job, ns, name)` returns a `V1Job`.
 *
 * Objects are plain JSON exactly as the API server sends them: timestamps are RFC 3339 strings even
 * where client-node's model types declare `Date`.
 */
import type {
  CoreV1Event,
  KubernetesObject,
  V1ConfigMap,
  V1Job,
  V1Lease,
  V1Namespace,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Secret,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import type {
  Backup,
  BackupPolicy,
  BackupRepository,
  OneOffBackup,
  Restore,
  ServerBinding,
} from '../api/types.js';

/** How to reach one kind over REST. `T` is the type of its objects (phantom: never set at runtime). */
export interface ResourceKind<T extends KubernetesObject = KubernetesObject> {
  /** API group, '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Lower-case plural resource name, as in the URL. */
  readonly plural: string;
  readonly namespaced: boolean;
  /** `group/version`, or just `version` for the core group. */
  readonly apiVersion: string;
  /** Type carrier only. */
  readonly __type?: T;
}

/** Declares a kind; `apiVersion` is derived from group and version. */
export function defineKind<T extends KubernetesObject = KubernetesObject>(spec: {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}): ResourceKind<T> {
  return Object.freeze({ ...spec, apiVersion: spec.group ? `${spec.group}/${spec.version}` : spec.version });
}

/** `kind.group` (`Job.batch`, `Pod` for core): a stable name for logs, metrics and maps. */
export function kindId(kind: ResourceKind): string {
  return kind.group ? `${kind.kind}.${kind.group}` : kind.kind;
}

/** An object of a kind not modelled by client-node: metadata plus free-form content. */
export interface GenericObject extends KubernetesObject {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

/** The kinds the operator reads and writes; ours typed with `src/api/`, third-party ones as `GenericObject`. */
export const Kinds = {
  Namespace: defineKind<V1Namespace>({
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
  }),
  Pod: defineKind<V1Pod>({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true }),
  PersistentVolumeClaim: defineKind<V1PersistentVolumeClaim>({
    group: '',
    version: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    namespaced: true,
  }),
  Secret: defineKind<V1Secret>({
    group: '',
    version: 'v1',
    kind: 'Secret',
    plural: 'secrets',
    namespaced: true,
  }),
  ConfigMap: defineKind<V1ConfigMap>({
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    namespaced: true,
  }),
  ServiceAccount: defineKind<V1ServiceAccount>({
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    namespaced: true,
  }),
  Event: defineKind<CoreV1Event>({
    group: '',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    namespaced: true,
  }),
  Job: defineKind<V1Job>({ group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true }),
  Lease: defineKind<V1Lease>({
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    plural: 'leases',
    namespaced: true,
  }),
  VolumeSnapshot: defineKind<GenericObject>({
    group: 'snapshot.storage.k8s.io',
    version: 'v1',
    kind: 'VolumeSnapshot',
    plural: 'volumesnapshots',
    namespaced: true,
  }),
  VirtualMachine: defineKind<GenericObject>({
    group: 'kubevirt.io',
    version: 'v1',
    kind: 'VirtualMachine',
    plural: 'virtualmachines',
    namespaced: true,
  }),
  VirtualMachineInstance: defineKind<GenericObject>({
    group: 'kubevirt.io',
    version: 'v1',
    kind: 'VirtualMachineInstance',
    plural: 'virtualmachineinstances',
    namespaced: true,
  }),
  BackupRepository: defineKind<BackupRepository>({
    group: 'csbs.dev',
    version: 'v1alpha1',
    kind: 'BackupRepository',
    plural: 'backuprepositories',
    namespaced: true,
  }),
  BackupPolicy: defineKind<BackupPolicy>({
    group: 'csbs.dev',
    version: 'v1alpha1',
    kind: 'BackupPolicy',
    plural: 'backuppolicies',
    namespaced: true,
  }),
  ServerBinding: defineKind<ServerBinding>({
    group: 'csbs.dev',
    version: 'v1alpha1',
    kind: 'ServerBinding',
    plural: 'serverbindings',
    namespaced: true,
  }),
  OneOffBackup: defineKind<OneOffBackup>({
    group: 'csbs.dev',
    version: 'v1alpha1',
    kind: 'OneOffBackup',
    plural: 'oneoffbackups',
    namespaced: true,
  }),
  Backup: defineKind<Backup>({
    group: 'csbs.dev',
    version: 'v1alpha1',
    kind: 'Backup',
    plural: 'backups',
    namespaced: true,
  }),
  Restore: defineKind<Restore>({
    group: 'csbs.dev',
    version: 'v1alpha1',
    kind: 'Restore',
    plural: 'restores',
    namespaced: true,
  }),
} as const;
