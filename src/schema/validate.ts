/**
 * OpenAPI v3 value validation of a (pruned, defaulted) object against a structural schema, with the
 * error types and wording of kube-apiserver (kube-openapi's validator mapped to field errors), plus the
 * `x-kubernetes-list-type` set/map uniqueness checks.
 */
import { childPath, fieldError, indexPath, type FieldError } from './errors.js';
import { checkFormat } from './formats.js';
import { isObject, itemsOf, jsonEqual, type JSONSchemaProps } from './props.js';

/** Errors plus whether any of them stops CEL evaluation (as the apiserver's hasBlockingErr decides). */
export interface ValidationResult {
  errors: FieldError[];
  /** A type, enum, required, maxLength, maxItems or maxProperties failure: CEL rules are not run. */
  blocking: boolean;
}

/** Validates `value` at `path` (e.g. '' for the root) against `s`. */
export function validateValue(value: unknown, s: JSONSchemaProps | undefined, path = ''): ValidationResult {
  const r: ValidationResult = { errors: [], blocking: false };
  check(value, s, path, r);
  return r;
}

/** JSON type name of a value as kube-openapi reports it in type errors. */
export function jsonTypeOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v; // string, boolean, object
}

function typeMatches(v: unknown, s: JSONSchemaProps): boolean {
  if (s['x-kubernetes-int-or-string'])
    return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  switch (s.type) {
    case undefined:
      return true;
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
  }
}

function check(v: unknown, s: JSONSchemaProps | undefined, path: string, r: ValidationResult): void {
  if (!s) return;
  const name = path || '.';
  const err = (e: FieldError, blocking = false) => {
    r.errors.push(e);
    if (blocking) r.blocking = true;
  };

  if (v === null) {
    if (s.nullable) return;
    if (s.type || s['x-kubernetes-int-or-string']) {
      const t = s['x-kubernetes-int-or-string'] ? 'integer,string' : s.type;
      err(fieldError.invalid(path, 'null', `${name} in body must be of type ${t}: "null"`), true);
    }
    return;
  }
  if (!typeMatches(v, s)) {
    const t = s['x-kubernetes-int-or-string'] ? 'integer,string' : s.type;
    err(
      fieldError.invalid(path, jsonTypeOf(v), `${name} in body must be of type ${t}: "${jsonTypeOf(v)}"`),
      true,
    );
    return;
  }

  if (s.enum && !s.enum.some((e) => jsonEqual(e, v))) {
    err(
      fieldError.notSupported(
        path,
        v,
        s.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))),
      ),
      true,
    );
  }

  if (typeof v === 'number') checkNumber(v, s, name, path, err);
  if (typeof v === 'string') checkString(v, s, name, path, err);
  if (Array.isArray(v)) checkArray(v, s, name, path, r, err);
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (s.maxProperties !== undefined && keys.length > s.maxProperties) {
      err(fieldError.tooMany(path, keys.length, s.maxProperties), true);
    }
    if (s.minProperties !== undefined && keys.length < s.minProperties) {
      err(fieldError.invalid(path, v, `${name} in body should have at least ${s.minProperties} properties`));
    }
    for (const req of s.required ?? []) {
      if (!(req in v)) err(fieldError.required(childPath(path, req)), true);
    }
    for (const k of keys) {
      const ps =
        s.properties?.[k] ??
        (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
      check(v[k], ps, childPath(path, k), r);
    }
  }

  for (const sub of s.allOf ?? []) check(v, sub, path, r);
  if (s.anyOf?.length) {
    const ok = s.anyOf.some((sub) => validateValue(v, sub, path).errors.length === 0);
    if (!ok) err(fieldError.invalid(path, v, `${name} in body must be of type anyOf`));
  }
  if (s.oneOf?.length) {
    const n = s.oneOf.filter((sub) => validateValue(v, sub, path).errors.length === 0).length;
    if (n !== 1)
      err(fieldError.invalid(path, v, `${name} in body must validate one and only one schema (oneOf)`));
  }
  if (s.not && validateValue(v, s.not, path).errors.length === 0) {
    err(fieldError.invalid(path, v, `${name} in body must not validate the schema (not)`));
  }
}

type Add = (e: FieldError, blocking?: boolean) => void;

function checkNumber(v: number, s: JSONSchemaProps, name: string, path: string, err: Add): void {
  if (s.maximum !== undefined) {
    if (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum) {
      const rel = s.exclusiveMaximum ? 'less than' : 'less than or equal to';
      err(fieldError.invalid(path, v, `${name} in body should be ${rel} ${s.maximum}`));
    }
  }
  if (s.minimum !== undefined) {
    if (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum) {
      const rel = s.exclusiveMinimum ? 'greater than' : 'greater than or equal to';
      err(fieldError.invalid(path, v, `${name} in body should be ${rel} ${s.minimum}`));
    }
  }
  if (s.multipleOf !== undefined && s.multipleOf > 0) {
    const q = v / s.multipleOf;
    if (Math.abs(q - Math.round(q)) > 1e-9) {
      err(fieldError.invalid(path, v, `${name} in body should be a multiple of ${s.multipleOf}`));
    }
  }
}

function checkString(v: string, s: JSONSchemaProps, name: string, path: string, err: Add): void {
  const length = [...v].length; // characters (code points), as JSON schema counts them
  if (s.maxLength !== undefined && length > s.maxLength) err(fieldError.tooLong(path, v, s.maxLength), true);
  if (s.minLength !== undefined && length < s.minLength) {
    err(fieldError.invalid(path, v, `${name} in body should be at least ${s.minLength} chars long`));
  }
  if (s.pattern !== undefined && !patternRegExp(s.pattern).test(v)) {
    err(fieldError.invalid(path, v, `${name} in body should match '${s.pattern}'`));
  }
  if (s.format !== undefined && !checkFormat(s.format, v)) {
    err(fieldError.invalid(path, v, `${name} in body must be of type ${s.format}: ${JSON.stringify(v)}`));
  }
}

function checkArray(
  v: unknown[],
  s: JSONSchemaProps,
  name: string,
  path: string,
  r: ValidationResult,
  err: Add,
): void {
  if (s.maxItems !== undefined && v.length > s.maxItems)
    err(fieldError.tooMany(path, v.length, s.maxItems), true);
  if (s.minItems !== undefined && v.length < s.minItems) {
    err(fieldError.invalid(path, v.length, `${name} in body should have at least ${s.minItems} items`));
  }
  if (s.uniqueItems && v.some((x, i) => v.findIndex((y) => jsonEqual(x, y)) !== i)) {
    err(fieldError.invalid(path, v, `${name} in body shouldn't contain duplicates`));
  }
  const items = itemsOf(s);
  v.forEach((x, i) => check(x, items, indexPath(path, i), r));
  checkListType(v, s, path, err);
}

/** `x-kubernetes-list-type: set` items are unique; `map` items are unique by their map keys. */
function checkListType(v: unknown[], s: JSONSchemaProps, path: string, err: Add): void {
  const listType = s['x-kubernetes-list-type'];
  if (listType === 'set') {
    v.forEach((x, i) => {
      if (v.findIndex((y) => jsonEqual(x, y)) !== i) err(fieldError.duplicate(indexPath(path, i), x));
    });
  } else if (listType === 'map') {
    const keys = s['x-kubernetes-list-map-keys'] ?? [];
    const keyOf = (x: unknown) => {
      const out: Record<string, unknown> = {};
      if (isObject(x)) for (const k of keys) if (x[k] !== undefined) out[k] = x[k];
      return out;
    };
    v.forEach((x, i) => {
      const kx = keyOf(x);
      if (v.findIndex((y) => jsonEqual(kx, keyOf(y))) !== i)
        err(fieldError.duplicate(indexPath(path, i), kx));
    });
  }
}

const patternCache = new Map<string, RegExp>();

/** A schema `pattern` compiled once (ECMA-262 syntax, which is what CRD authors write in practice). */
export function patternRegExp(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(pattern, 'u');
    patternCache.set(pattern, re);
  }
  return re;
}
