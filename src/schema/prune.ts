/**
 * Pruning as kube-apiserver does it for custom resources: fields the structural schema does not
 * declare are dropped, except under `x-kubernetes-preserve-unknown-fields: true`. At the resource root
 * (and in embedded resources) `apiVersion`, `kind` and `metadata` are always kept; metadata is reduced to
 * the fields ObjectMeta has.
 */
import { isObject, itemsOf, type JSONObject, type JSONSchemaProps } from './props.js';

/** Fields of metav1.ObjectMeta; anything else under metadata is dropped like the apiserver's decoder does. */
export const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

/**
 * Removes undeclared fields from `obj` in place and returns their paths (e.g. `spec.foo`), the list a
 * server reports as "unknown field" warnings. `isResourceRoot` keeps apiVersion/kind/metadata at the top.
 */
export function prune(obj: unknown, schema: JSONSchemaProps | undefined, isResourceRoot = true): string[] {
  const pruned: string[] = [];
  walk(obj, schema, isResourceRoot, '', pruned);
  return pruned;
}

function walk(
  x: unknown,
  s: JSONSchemaProps | undefined,
  root: boolean,
  path: string,
  pruned: string[],
): void {
  if (Array.isArray(x)) {
    const items = itemsOf(s);
    x.forEach((v, i) => walk(v, items, false, `${path}[${i}]`, pruned));
    return;
  }
  if (!isObject(x)) return;
  const embedded = root || s?.['x-kubernetes-embedded-resource'] === true;
  const preserve = s?.['x-kubernetes-preserve-unknown-fields'] === true;
  for (const key of Object.keys(x)) {
    const p = path ? `${path}.${key}` : key;
    if (embedded && (key === 'apiVersion' || key === 'kind')) continue;
    if (embedded && key === 'metadata') {
      pruneMeta(x, p, pruned);
      continue;
    }
    const prop = s?.properties?.[key];
    if (prop) {
      walk(x[key], prop, false, p, pruned);
    } else if (typeof s?.additionalProperties === 'object') {
      walk(x[key], s.additionalProperties, false, p, pruned);
    } else if (preserve || s?.additionalProperties === true) {
      // Unknown but preserved: nested objects stay as they are (no schema to prune them by).
    } else {
      delete x[key];
      pruned.push(p);
    }
  }
}

function pruneMeta(parent: JSONObject, path: string, pruned: string[]): void {
  const meta = parent.metadata;
  if (!isObject(meta)) return;
  for (const k of Object.keys(meta)) {
    if (!OBJECT_META_FIELDS.has(k)) {
      delete meta[k];
      pruned.push(`${path}.${k}`);
    }
  }
}

/**
 * Drops `null` values of fields that are neither nullable nor defaulted (the apiserver treats them as
 * absent); nulls of defaulted fields are left for defaulting to replace.
 */
export function pruneNonNullableNulls(x: unknown, s: JSONSchemaProps | undefined): void {
  if (Array.isArray(x)) {
    const items = itemsOf(s);
    for (const v of x) pruneNonNullableNulls(v, items);
    return;
  }
  if (!isObject(x)) return;
  for (const k of Object.keys(x)) {
    const ps =
      s?.properties?.[k] ??
      (typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined);
    if (x[k] === null && ps && !ps.nullable && ps.default === undefined) delete x[k];
    else pruneNonNullableNulls(x[k], ps);
  }
}
