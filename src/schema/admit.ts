/**
 * `admit`: what kube-apiserver does to a custom resource on create and update, in its order: prune
 * unknown fields, drop non-nullable nulls, apply defaults, validate against the OpenAPI schema (and
 * list-type invariants), then run the CEL rules unless a blocking error already stopped them.
 */
import { validateRules } from './cel.js';
import { applyDefaults } from './defaults.js';
import type { FieldError } from './errors.js';
import { deepCopy, isObject, itemsOf, type JSONObject, type JSONSchemaProps } from './props.js';
import { prune, pruneNonNullableNulls } from './prune.js';
import { validateValue } from './validate.js';

/** Outcome of admitting one object. */
export interface AdmitResult {
  /** A pruned and defaulted copy of the input (the input is never modified). */
  object: JSONObject;
  /** Every validation error, empty when the object is valid. */
  errors: FieldError[];
  /** Paths of the unknown fields pruning removed (a server may return them as warnings). */
  pruned: string[];
}

/** The message the apiserver adds when CEL rules were skipped because of earlier errors. */
export const RULES_NOT_CHECKED =
  'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/**
 * Admits `obj` (a whole custom resource) against `schema`, the served version's openAPIV3Schema.
 * `oldObj` is the stored object on update: transition rules (`oldSelf`) run only then.
 */
export function admit(schema: JSONSchemaProps, obj: unknown, oldObj?: unknown): AdmitResult {
  const object = (isObject(obj) ? deepCopy(obj) : {}) as JSONObject;
  const pruned = prune(object, schema, true);
  pruneNonNullableNulls(object, schema);
  applyDefaults(object, schema);

  const result = validateValue(object, schema, '');
  const errors = [...result.errors];
  if (hasRules(schema)) {
    if (result.blocking) errors.push({ type: 'Invalid', field: '', value: null, detail: RULES_NOT_CHECKED });
    else errors.push(...validateRules(object, schema, oldObj ?? undefined, ''));
  }
  return { object, errors, pruned };
}

/** Whether any node of the schema has `x-kubernetes-validations`. */
export function hasRules(s: JSONSchemaProps | undefined): boolean {
  if (!s) return false;
  if (s['x-kubernetes-validations']?.length) return true;
  if (Object.values(s.properties ?? {}).some(hasRules)) return true;
  if (typeof s.additionalProperties === 'object' && hasRules(s.additionalProperties)) return true;
  return hasRules(itemsOf(s));
}
