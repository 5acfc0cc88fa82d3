/** Helpers over schema nodes and JSON values shared by the schema engine's passes. */
import type { JSONSchemaProps } from '../api/openapi.js';

export type { JSONSchemaProps, ValidationRule } from '../api/openapi.js';

/** The single item schema of an array node (structural schemas never use tuple `items`). */
export function itemsOf(s: JSONSchemaProps | undefined): JSONSchemaProps | undefined {
  if (!s || s.items === undefined || Array.isArray(s.items)) return undefined;
  return s.items;
}

/** The schema of property `key` of an object node: a declared property, else additionalProperties. */
export function propertyOf(s: JSONSchemaProps | undefined, key: string): JSONSchemaProps | undefined {
  if (!s) return undefined;
  const p = s.properties?.[key];
  if (p) return p;
  if (typeof s.additionalProperties === 'object') return s.additionalProperties;
  return undefined;
}

/** A plain JSON object (not null, not an array). */
export type JSONObject = Record<string, unknown>;

/** Whether `v` is a plain JSON object. */
export function isObject(v: unknown): v is JSONObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy of a JSON value. */
export function deepCopy<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Deep equality of two JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}
