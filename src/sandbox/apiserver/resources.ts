/**
 * The resource registry: which group/version/resource paths are served, with their kind, scope, verbs,
 * subresources and schema. Built-in kinds are registered at start; each CustomResourceDefinition adds
 * (and on deletion removes) its own.
 */
import type { FieldCause } from './errors.js';
import type { JsonObject, KubeObject } from './types.js';

/** A CRD `additionalPrinterColumns` entry. */
export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

/** One served version of a resource. */
export interface ServedVersion {
  name: string;
  /** openAPIV3Schema of a CRD version; absent for built-ins. */
  schema?: JsonObject;
  printerColumns?: PrinterColumn[];
}

/** A resource (group + plural) and everything the server needs to serve it. */
export interface ResourceDefinition {
  group: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Versions in served order; the first is the preferred one. */
  versions: ServedVersion[];
  /** The version objects are stored (and by default returned) as. */
  storageVersion: string;
  /** Has a `/status` subresource: the main endpoint ignores status changes. */
  statusSubresource: boolean;
  /** A custom resource (from a CRD): resourceVersion required on update, no strategic merge patch. */
  custom: boolean;
  /** Strategic-merge-patch merge keys by list path (`spec.containers` -> `name`), built-ins only. */
  mergeKeys?: Record<string, string>;
  /** Propagation used by DELETE without a propagationPolicy. */
  defaultPropagation: 'Background' | 'Orphan' | 'Foreground';
  /** Create-time defaults a real apiserver's strategy applies (built-ins). */
  prepareForCreate?: (obj: KubeObject) => void;
  /** Kind-specific validation beyond schema and metadata (CRDs). */
  validate?: (obj: KubeObject, old: KubeObject | undefined) => FieldCause[];
  /** Extra subresources served by this module (`log` for pods). */
  extraSubresources?: string[];
  /** The CRD that serves it. */
  crdName?: string;
}

/** Verbs served for every resource. */
export const RESOURCE_VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];

/** Storage key of a resource: objects of all its versions live under it. */
export function resourceKey(def: Pick<ResourceDefinition, 'group' | 'plural'>): string {
  return `${def.group}/${def.plural}`;
}

/** `apiVersion` string of a group and version. */
export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** Registry of served resources, indexed by storage key and by kind. */
export class ResourceRegistry {
  private readonly byKey = new Map<string, ResourceDefinition>();
  private listeners: Array<() => void> = [];

  /** Adds or replaces a resource definition. */
  register(def: ResourceDefinition): void {
    this.byKey.set(resourceKey(def), def);
    this.changed();
  }

  /** Removes a resource definition (a deleted CRD). */
  unregister(group: string, plural: string): void {
    if (this.byKey.delete(`${group}/${plural}`)) this.changed();
  }

  /** Called after every change (discovery and OpenAPI caches listen). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** The definition serving `group/version/plural`, or undefined. */
  lookup(group: string, version: string, plural: string): ResourceDefinition | undefined {
    const def = this.byKey.get(`${group}/${plural}`);
    if (!def || !def.versions.some((v) => v.name === version)) return undefined;
    return def;
  }

  /** The definition by storage key. */
  get(key: string): ResourceDefinition | undefined {
    return this.byKey.get(key);
  }

  /** The definition of a kind in a group (ownerReferences name kinds, not resources). */
  byKind(group: string, kind: string): ResourceDefinition | undefined {
    for (const def of this.byKey.values()) if (def.group === group && def.kind === kind) return def;
    return undefined;
  }

  /** All definitions, in registration order. */
  all(): ResourceDefinition[] {
    return [...this.byKey.values()];
  }

  /** Groups with their versions, core (`""`) first, preferred version first. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const def of this.byKey.values()) {
      const versions = out.get(def.group) ?? [];
      for (const v of def.versions) if (!versions.includes(v.name)) versions.push(v.name);
      out.set(def.group, versions);
    }
    for (const [group, versions] of out) out.set(group, sortVersions(versions));
    return out;
  }
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (`v1 > v1beta2 > v1alpha1`). */
export function sortVersions(versions: string[]): string[] {
  const rank = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [3, 0, 0];
    const stability = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
    return [stability, -Number(m[1]), -Number(m[3] ?? 0)];
  };
  return [...versions].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return ra[i] - rb[i];
    return a < b ? -1 : a > b ? 1 : 0;
  });
}
