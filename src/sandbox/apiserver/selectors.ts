/**
 * Label and field selectors in their query-string form (`app=x,tier in (a,b),!legacy`), with the
 * apiserver's matching rules: `!=` and `notin` also match objects that lack the key.
 */
import { badRequest } from './errors.js';
import { isObject, type KubeObject } from './types.js';

type Operator = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

/** A parsed selector: matches when every requirement holds. */
export interface Selector {
  matches(values: (key: string) => string | undefined): boolean;
  empty: boolean;
}

const EVERYTHING: Selector = { matches: () => true, empty: true };

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;

function parseRequirement(text: string, allowSetOps: boolean): Requirement {
  let m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(text);
  if (m && allowSetOps) {
    const values = m[3]
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    return { key: m[1], op: m[2] as Operator, values };
  }
  m = new RegExp(`^(${KEY})\\s*(==|!=|=)\\s*(${VALUE})$`).exec(text);
  if (m) return { key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] };
  if (allowSetOps) {
    m = new RegExp(`^(${KEY})\\s*([<>])\\s*(-?\\d+)$`).exec(text);
    if (m) return { key: m[1], op: m[2] === '>' ? 'gt' : 'lt', values: [m[3]] };
    m = new RegExp(`^!\\s*(${KEY})$`).exec(text);
    if (m) return { key: m[1], op: '!exists', values: [] };
    m = new RegExp(`^(${KEY})$`).exec(text);
    if (m) return { key: m[1], op: 'exists', values: [] };
  }
  throw badRequest(
    `unable to parse requirement: found '${text}', expected: ${allowSetOps ? "'=', '!=', '==', 'in', notin'" : "'=', '==' or '!='"}`,
  );
}

function holds(r: Requirement, value: string | undefined): boolean {
  switch (r.op) {
    case 'exists':
      return value !== undefined;
    case '!exists':
      return value === undefined;
    case '=':
      return value === r.values[0];
    case '!=':
      return value !== r.values[0];
    case 'in':
      return value !== undefined && r.values.includes(value);
    case 'notin':
      return value === undefined || !r.values.includes(value);
    case 'gt':
      return value !== undefined && /^-?\d+$/.test(value) && Number(value) > Number(r.values[0]);
    case 'lt':
      return value !== undefined && /^-?\d+$/.test(value) && Number(value) < Number(r.values[0]);
  }
}

function build(requirements: Requirement[]): Selector {
  if (requirements.length === 0) return EVERYTHING;
  return { empty: false, matches: (values) => requirements.every((r) => holds(r, values(r.key))) };
}

/** Parses a `labelSelector` query parameter; throws 400 on bad syntax. */
export function parseLabelSelector(text: string | null | undefined): Selector {
  if (!text) return EVERYTHING;
  return build(splitTopLevel(text).map((p) => parseRequirement(p, true)));
}

/** Field paths every resource supports in `fieldSelector`. */
const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];

/** Extra field paths of built-in kinds (`pods`: `spec.nodeName`, `status.phase`, ...). */
const KIND_FIELDS: Record<string, string[]> = {
  '/pods': [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
  ],
  '/events': [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  'events.k8s.io/events': [
    'regarding.kind',
    'regarding.namespace',
    'regarding.name',
    'regarding.uid',
    'reason',
    'type',
  ],
  '/secrets': ['type'],
  '/namespaces': ['status.phase'],
  '/persistentvolumeclaims': [],
  'batch/jobs': ['status.successful'],
};

/** Parses a `fieldSelector` for a resource (storage key); unsupported fields are a 400 like the real one. */
export function parseFieldSelector(text: string | null | undefined, resourceKey: string): Selector {
  if (!text) return EVERYTHING;
  const requirements = splitTopLevel(text).map((p) => parseRequirement(p, false));
  const allowed = [...COMMON_FIELDS, ...(KIND_FIELDS[resourceKey] ?? [])];
  for (const r of requirements) {
    if (!allowed.includes(r.key)) throw badRequest(`field label not supported: ${r.key}`);
  }
  return build(requirements);
}

/** Label lookup for an object. */
export function labelsOf(obj: KubeObject): (key: string) => string | undefined {
  const labels = obj.metadata.labels ?? {};
  return (key) => labels[key];
}

/** Field lookup for an object by dotted path (numbers and booleans as their text). */
export function fieldsOf(obj: KubeObject): (key: string) => string | undefined {
  return (key) => {
    let cur: unknown = obj;
    for (const part of key.split('.')) {
      if (!isObject(cur)) return key === 'metadata.namespace' ? '' : undefined;
      cur = cur[part];
    }
    if (cur === undefined || cur === null) return key === 'metadata.namespace' ? '' : '';
    return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
  };
}
