/**
 * `meta.k8s.io/v1 Table` responses, which kubectl asks for (`Accept: ...;as=Table`) to print `get`:
 * Name and Age for built-ins, a CRD's additionalPrinterColumns (JSONPath, `date` cells as ages) otherwise.
 */
import type { PrinterColumn, ResourceDefinition } from './resources.js';
import { isObject, type Json, type KubeObject } from './types.js';

/** True when the Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

/** Table version requested (kubectl 1.20 offers v1 first, then v1beta1). */
export function tableVersion(accept: string): string {
  const first = accept.split(',').find((p) => /as=Table/.test(p)) ?? '';
  return /v=v1beta1/.test(first) ? 'meta.k8s.io/v1beta1' : 'meta.k8s.io/v1';
}

/** Kubernetes' human-readable age (`5s`, `3m`, `2d3h`...). */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return `${d}d${h % 24 ? `${h % 24}h` : ''}`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y${d % 365 ? `${d % 365}d` : ''}`;
}

/** Evaluates the JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b`. */
export function jsonPath(obj: Json, path: string): Json[] {
  let expr = path.trim();
  if (expr.startsWith('{') && expr.endsWith('}')) expr = expr.slice(1, -1);
  if (expr.startsWith('$')) expr = expr.slice(1);
  const tokens = expr.match(/\.[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let current: Json[] = [obj];
  for (const token of tokens) {
    const next: Json[] = [];
    for (const value of current) {
      if (token.startsWith('.')) {
        if (isObject(value) && value[token.slice(1)] !== undefined) next.push(value[token.slice(1)] as Json);
        continue;
      }
      const inner = token.slice(1, -1);
      if (!Array.isArray(value)) continue;
      if (inner === '*') next.push(...value);
      else if (/^-?\d+$/.test(inner)) {
        const i = Number(inner);
        const v = value[i < 0 ? value.length + i : i];
        if (v !== undefined) next.push(v);
      } else {
        const f = /^\?\(@\.([\w.]+)\s*(==|!=)\s*["']?([^"']*)["']?\)$/.exec(inner);
        if (!f) continue;
        for (const el of value) {
          const got = jsonPath(el, `.${f[1]}`)[0];
          const eq = got !== undefined && String(got) === f[3];
          if ((f[2] === '==') === eq) next.push(el);
        }
      }
    }
    current = next;
  }
  return current;
}

const NAME_COLUMN = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
};
const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
};

function columnsOf(def: ResourceDefinition, version: string): PrinterColumn[] {
  const v = def.versions.find((x) => x.name === version);
  if (v?.printerColumns && v.printerColumns.length > 0) return v.printerColumns;
  return [AGE_COLUMN];
}

function cell(column: PrinterColumn, obj: KubeObject): Json {
  const found = jsonPath(obj, column.jsonPath);
  if (found.length === 0 || found[0] === null) return null;
  const value = found[0];
  if (column.type === 'date' && typeof value === 'string') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? value : humanDuration(Date.now() - t);
  }
  if (column.type === 'string' && typeof value !== 'string') return JSON.stringify(value);
  return value;
}

/** A Table of `objects`; `includeObject` follows the query parameter (`Metadata` by default). */
export function toTable(
  def: ResourceDefinition,
  version: string,
  objects: KubeObject[],
  listMeta: { resourceVersion: string; continue?: string },
  accept: string,
  includeObject: string | null,
): Json {
  const columns = columnsOf(def, version);
  const rows = objects.map((obj) => {
    let object: Json | undefined;
    if (includeObject === 'Object') object = obj;
    else if (includeObject !== 'None') {
      object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
    }
    const row: Record<string, Json> = {
      cells: [obj.metadata.name ?? '', ...columns.map((c) => cell(c, obj))],
    };
    if (object !== undefined) row.object = object;
    return row;
  });
  const metadata: Record<string, Json> = { resourceVersion: listMeta.resourceVersion };
  if (listMeta.continue) metadata.continue = listMeta.continue;
  return {
    kind: 'Table',
    apiVersion: tableVersion(accept),
    metadata,
    columnDefinitions: [
      NAME_COLUMN,
      ...columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    rows,
  };
}
