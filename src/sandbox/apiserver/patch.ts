/**
 * The three patch formats of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch (RFC 6902, with
 * `test`), and strategic merge patch (lists merged by the merge keys of built-in types, with the
 * `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList` directives kubectl sends).
 */
import { ApiError, badRequest } from './errors.js';
import { clone, deepEqual, isObject, type Json, type JsonObject } from './types.js';

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A 422 for a JSON patch operation that cannot apply, as the apiserver answers. */
function patchFailed(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer: "${pointer}"`);
  return pointer.slice(1).split('/').map(unescapePointer);
}

function getAt(doc: Json, path: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const token of path) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(token)) return undefined;
      cur = cur[Number(token)];
    } else if (isObject(cur)) cur = cur[token];
    else return undefined;
  }
  return cur;
}

/** Parent container and final token of a pointer; the parent must exist. */
function parentOf(
  doc: Json,
  path: string[],
  op: string,
  pointer: string,
): { parent: JsonObject | Json[]; token: string } {
  const parent = getAt(doc, path.slice(0, -1));
  if (!Array.isArray(parent) && !isObject(parent)) {
    throw patchFailed(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
  }
  return { parent, token: path[path.length - 1] };
}

function arrayIndex(arr: Json[], token: string, allowEnd: boolean, op: string, pointer: string): number {
  if (token === '-' && allowEnd) return arr.length;
  if (!/^\d+$/.test(token))
    throw patchFailed(`${op} operation does not apply: doc is missing path: "${pointer}"`);
  const i = Number(token);
  if (i > arr.length || (!allowEnd && i === arr.length)) {
    throw patchFailed(
      `${op} operation does not apply: doc is missing path: "${pointer}": index out of range`,
    );
  }
  return i;
}

function removeAt(doc: Json, path: string[], pointer: string, op: string): Json {
  const { parent, token } = parentOf(doc, path, op, pointer);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, token, false, op, pointer);
    return parent.splice(i, 1)[0];
  }
  if (!(token in parent) || parent[token] === undefined) {
    throw patchFailed(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
  }
  const old = parent[token] as Json;
  delete parent[token];
  return old;
}

function addAt(doc: Json, path: string[], value: Json, pointer: string, op: string, replace: boolean): Json {
  if (path.length === 0) return value;
  const { parent, token } = parentOf(doc, path, op, pointer);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, token, !replace, op, pointer);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else {
    if (replace && parent[token] === undefined) {
      throw patchFailed(`${op} operation does not apply: doc is missing key: "${pointer}": missing value`);
    }
    parent[token] = value;
  }
  return doc;
}

/** RFC 6902 JSON patch; a failed `test` or a missing path is a 422 as on a real server. */
export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const raw of operations) {
    if (!isObject(raw)) throw badRequest('invalid JSON patch operation');
    const op = String(raw.op ?? '');
    const pointer = typeof raw.path === 'string' ? raw.path : '';
    const path = parsePointer(pointer);
    switch (op) {
      case 'add':
        doc = addAt(doc, path, clone(raw.value ?? null), pointer, op, false);
        break;
      case 'replace':
        doc = addAt(doc, path, clone(raw.value ?? null), pointer, op, true);
        break;
      case 'remove':
        removeAt(doc, path, pointer, op);
        break;
      case 'move':
      case 'copy': {
        const from = typeof raw.from === 'string' ? raw.from : '';
        const fromPath = parsePointer(from);
        const value = getAt(doc, fromPath);
        if (value === undefined)
          throw patchFailed(`${op} operation does not apply: doc is missing from path: "${from}"`);
        if (op === 'move') removeAt(doc, fromPath, from, op);
        doc = addAt(doc, path, clone(value), pointer, op, false);
        break;
      }
      case 'test': {
        const actual = getAt(doc, path);
        if (!deepEqual(actual ?? null, raw.value ?? null)) {
          throw patchFailed(`testing value ${pointer} failed: test failed`);
        }
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}

/** Merge keys by list path, `''` meaning a list of primitives merged as a set. */
export type MergeKeys = Record<string, string>;

const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

/** Strategic merge patch of `patch` onto `target`; `path` is the dotted path for merge-key lookup. */
export function strategicMergePatch(target: Json | undefined, patch: Json, keys: MergeKeys, path = ''): Json {
  if (!isObject(patch)) return clone(patch);
  const directive = patch.$patch;
  if (directive === 'delete') return null;
  if (directive === 'replace') {
    const out = clone(patch);
    delete out.$patch;
    return out;
  }
  const out: JsonObject = isObject(target) ? { ...target } : {};
  const retainKeys = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || v === undefined) continue;
    if (k.startsWith(SET_ORDER)) continue;
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      const existing = out[field];
      if (Array.isArray(existing) && Array.isArray(v)) {
        out[field] = existing.filter((e) => !v.some((d) => deepEqual(d, e)));
      }
      continue;
    }
    const childPath = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      out[k] = mergeList(out[k], v, keys, childPath);
    } else if (isObject(v)) {
      const merged = strategicMergePatch(out[k], v, keys, childPath);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  if (Array.isArray(retainKeys)) {
    for (const k of Object.keys(out)) if (!retainKeys.includes(k)) delete out[k];
  }
  // Honour $setElementOrder for merged lists so kubectl's ordering survives.
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith(SET_ORDER) || !Array.isArray(order)) continue;
    const field = k.slice(SET_ORDER.length);
    const list = out[field];
    const key = keys[path ? `${path}.${field}` : field];
    if (Array.isArray(list) && key !== undefined) out[field] = reorder(list, order, key);
  }
  return out;
}

function reorder(list: Json[], order: Json[], key: string): Json[] {
  const id = (e: Json): Json => (key === '' ? e : isObject(e) ? (e[key] ?? null) : e);
  const ranked = order.map(id);
  const pos = (e: Json): number => {
    const i = ranked.findIndex((r) => deepEqual(r, id(e)));
    return i === -1 ? ranked.length : i;
  };
  return [...list].sort((a, b) => pos(a) - pos(b));
}

function mergeList(target: Json | undefined, patch: Json[], keys: MergeKeys, path: string): Json[] {
  const key = keys[path];
  if (key === undefined) {
    // No merge strategy: the list is replaced (minus directive-only elements).
    return patch
      .filter((e) => !(isObject(e) && e.$patch !== undefined && Object.keys(e).length === 1))
      .map((e) => clone(e));
  }
  const base: Json[] = Array.isArray(target) ? [...target] : [];
  if (key === '') {
    for (const e of patch) if (!base.some((b) => deepEqual(b, e))) base.push(clone(e));
    return base;
  }
  if (patch.some((e) => isObject(e) && e.$patch === 'replace')) {
    return patch.filter((e) => !(isObject(e) && e.$patch === 'replace')).map((e) => clone(e));
  }
  for (const e of patch) {
    if (!isObject(e)) continue;
    const id = e[key];
    const i = base.findIndex((b) => isObject(b) && deepEqual(b[key], id));
    if (e.$patch === 'delete') {
      if (i !== -1) base.splice(i, 1);
      continue;
    }
    if (i === -1) base.push(strategicMergePatch(undefined, e, keys, `${path}[]`));
    else base[i] = strategicMergePatch(base[i], e, keys, `${path}[]`);
  }
  return base;
}
