/**
 * The built-in kinds the operator and the simulated cluster use, with the create-time defaults and the
 * strategic-merge-patch merge keys their real API types declare.
 */
import { Buffer } from 'node:buffer';
import type { ResourceDefinition } from './resources.js';
import { isObject, type JsonObject, type KubeObject } from './types.js';

type BuiltinSpec = Omit<
  ResourceDefinition,
  'listKind' | 'versions' | 'storageVersion' | 'custom' | 'shortNames' | 'categories' | 'defaultPropagation'
> & {
  version: string;
  shortNames?: string[];
  categories?: string[];
  defaultPropagation?: ResourceDefinition['defaultPropagation'];
};

/** Merge keys of a PodSpec at `prefix` (`spec` for pods, `spec.template.spec` for jobs). */
function podSpecMergeKeys(prefix: string): Record<string, string> {
  const keys: Record<string, string> = {
    [`${prefix}.containers`]: 'name',
    [`${prefix}.initContainers`]: 'name',
    [`${prefix}.ephemeralContainers`]: 'name',
    [`${prefix}.volumes`]: 'name',
    [`${prefix}.imagePullSecrets`]: 'name',
    [`${prefix}.hostAliases`]: 'ip',
    [`${prefix}.topologySpreadConstraints`]: 'topologyKey',
  };
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    keys[`${prefix}.${list}[].env`] = 'name';
    keys[`${prefix}.${list}[].ports`] = 'containerPort';
    keys[`${prefix}.${list}[].volumeMounts`] = 'mountPath';
    keys[`${prefix}.${list}[].volumeDevices`] = 'devicePath';
  }
  return keys;
}

/** Keys every object has: ownerReferences by uid, finalizers merged as a set. */
const METADATA_MERGE_KEYS: Record<string, string> = {
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': '',
};

function defaults(obj: JsonObject, values: JsonObject): void {
  for (const [k, v] of Object.entries(values)) if (obj[k] === undefined) obj[k] = v;
}

function child(obj: JsonObject, key: string): JsonObject {
  const existing = obj[key];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  obj[key] = created;
  return created;
}

/** PodSpec defaults the apiserver's defaulting functions set. */
function defaultPodSpec(spec: JsonObject): void {
  defaults(spec, {
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    schedulerName: 'default-scheduler',
    securityContext: {},
    enableServiceLinks: true,
  });
  for (const list of ['containers', 'initContainers']) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    for (const c of containers) {
      if (!isObject(c)) continue;
      const image = typeof c.image === 'string' ? c.image : '';
      const latest = !/:[^/]+$/.test(image) || image.endsWith(':latest');
      defaults(c, {
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: latest ? 'Always' : 'IfNotPresent',
        resources: {},
      });
    }
  }
}

/** Secrets: `stringData` is write-only and merged into base64 `data`, as the apiserver does. */
function normalizeSecret(obj: KubeObject): void {
  defaults(obj, { type: 'Opaque' });
  const stringData = obj.stringData;
  if (isObject(stringData)) {
    const data = child(obj, 'data');
    for (const [k, v] of Object.entries(stringData)) {
      if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
    }
  }
  delete obj.stringData;
}

const BUILTINS: BuiltinSpec[] = [
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    statusSubresource: true,
    prepareForCreate: (obj) => {
      const spec = child(obj, 'spec');
      if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
      obj.status = { phase: 'Active' };
      const labels = (obj.metadata.labels ??= {});
      labels['kubernetes.io/metadata.name'] = obj.metadata.name ?? '';
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'Pod',
    plural: 'pods',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    statusSubresource: true,
    extraSubresources: ['log'],
    mergeKeys: {
      ...podSpecMergeKeys('spec'),
      'status.conditions': 'type',
      'status.podIPs': 'ip',
    },
    prepareForCreate: (obj) => {
      defaultPodSpec(child(obj, 'spec'));
      obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    singular: 'persistentvolumeclaim',
    namespaced: true,
    shortNames: ['pvc'],
    statusSubresource: true,
    mergeKeys: { 'status.conditions': 'type' },
    prepareForCreate: (obj) => {
      defaults(child(obj, 'spec'), { volumeMode: 'Filesystem' });
      obj.status = { phase: 'Pending' };
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'PersistentVolume',
    plural: 'persistentvolumes',
    singular: 'persistentvolume',
    namespaced: false,
    shortNames: ['pv'],
    statusSubresource: true,
    prepareForCreate: (obj) => {
      defaults(child(obj, 'spec'), { volumeMode: 'Filesystem', persistentVolumeReclaimPolicy: 'Retain' });
      obj.status = { phase: 'Pending' };
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'Secret',
    plural: 'secrets',
    singular: 'secret',
    namespaced: true,
    statusSubresource: false,
    prepareForCreate: normalizeSecret,
  },
  {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    statusSubresource: false,
  },
  {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    statusSubresource: false,
    mergeKeys: { secrets: 'name', imagePullSecrets: 'name' },
  },
  {
    group: '',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    statusSubresource: false,
  },
  {
    group: '',
    version: 'v1',
    kind: 'Node',
    plural: 'nodes',
    singular: 'node',
    namespaced: false,
    shortNames: ['no'],
    statusSubresource: true,
    mergeKeys: { 'status.conditions': 'type', 'status.addresses': 'type' },
  },
  {
    group: 'events.k8s.io',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    statusSubresource: false,
  },
  {
    group: 'batch',
    version: 'v1',
    kind: 'Job',
    plural: 'jobs',
    singular: 'job',
    namespaced: true,
    categories: ['all'],
    statusSubresource: true,
    // batch/v1 Jobs orphan their pods unless the client asks otherwise (kubectl sends Background).
    defaultPropagation: 'Orphan',
    mergeKeys: { ...podSpecMergeKeys('spec.template.spec'), 'status.conditions': 'type' },
    prepareForCreate: (obj) => {
      const spec = child(obj, 'spec');
      defaults(spec, {
        parallelism: 1,
        completions: 1,
        backoffLimit: 6,
        completionMode: 'NonIndexed',
        suspend: false,
      });
      const uid = obj.metadata.uid ?? '';
      const name = obj.metadata.name ?? '';
      const template = child(spec, 'template');
      const tmeta = child(template, 'metadata');
      const labels = child(tmeta, 'labels');
      if (spec.manualSelector !== true) {
        Object.assign(labels, {
          'controller-uid': uid,
          'job-name': name,
          'batch.kubernetes.io/controller-uid': uid,
          'batch.kubernetes.io/job-name': name,
        });
        spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      }
      defaultPodSpec(child(template, 'spec'));
      obj.status = {};
    },
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    plural: 'leases',
    singular: 'lease',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'storage.k8s.io',
    version: 'v1',
    kind: 'StorageClass',
    plural: 'storageclasses',
    singular: 'storageclass',
    namespaced: false,
    shortNames: ['sc'],
    statusSubresource: false,
    prepareForCreate: (obj) => defaults(obj, { reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate' }),
  },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    statusSubresource: true,
  },
  ...(['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'] as const).map((kind): BuiltinSpec => ({
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind,
    plural: `${kind.toLowerCase()}s`,
    singular: kind.toLowerCase(),
    namespaced: !kind.startsWith('Cluster'),
    statusSubresource: false,
  })),
];

/** Definitions of every built-in resource, ready to register. */
export function builtinResources(): ResourceDefinition[] {
  return BUILTINS.map((b) => {
    const { version, shortNames, categories, defaultPropagation, ...rest } = b;
    return {
      ...rest,
      listKind: `${b.kind}List`,
      versions: [{ name: version }],
      storageVersion: version,
      custom: false,
      shortNames: shortNames ?? [],
      categories: categories ?? [],
      defaultPropagation: defaultPropagation ?? 'Background',
      mergeKeys: { ...METADATA_MERGE_KEYS, ...(b.mergeKeys ?? {}) },
    };
  });
}

/** Built-in update-time normalisation (secrets' `stringData`). */
export function normalizeOnUpdate(def: ResourceDefinition, obj: KubeObject): void {
  if (def.group === '' && def.kind === 'Secret') normalizeSecret(obj);
}
