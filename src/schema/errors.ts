/**
 * Field errors in the shape and wording of k8s.io/apimachinery `field.Error`, so `csbs validate`, the
 * sandbox apiserver's 422 responses and a real cluster all say the same thing.
 */

/** Kind of field error (field.ErrorType without the `FieldValue` prefix). */
export type FieldErrorType =
  'Required' | 'Invalid' | 'NotSupported' | 'TooLong' | 'TooMany' | 'Forbidden' | 'Duplicate';

/** One problem at one field path (field.Error). */
export interface FieldError {
  type: FieldErrorType;
  /** Dotted path with indexes, e.g. `spec.schedule.cron[0]`; empty for the object as a whole. */
  field: string;
  /**
   * The offending value; `null` prints as null. Leave the property out to omit it from the text (as
   * Kubernetes does for objects and arrays); Required, Forbidden and TooLong never print it.
   */
  value?: unknown;
  detail: string;
}

const typeText: Record<FieldErrorType, string> = {
  Required: 'Required value',
  Invalid: 'Invalid value',
  NotSupported: 'Unsupported value',
  TooLong: 'Too long',
  TooMany: 'Too many',
  Forbidden: 'Forbidden',
  Duplicate: 'Duplicate value',
};

/** The StatusCause `reason` of an error type, e.g. `FieldValueInvalid`. */
export function causeReason(type: FieldErrorType): string {
  return type === 'NotSupported' ? 'FieldValueNotSupported' : `FieldValue${type}`;
}

/** Value as Kubernetes prints it: strings quoted, scalars bare, the rest as JSON. */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** The text after the field path: `Invalid value: 0: ... should be greater than or equal to 1`. */
export function formatErrorBody(e: FieldError): string {
  let s = typeText[e.type];
  // An absent value (objects and arrays failing a CEL rule) is left out, as Kubernetes omits it.
  const omit = e.type === 'Required' || e.type === 'Forbidden' || e.type === 'TooLong' || !('value' in e);
  if (!omit) s += `: ${formatValue(e.value)}`;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** The apiserver's text for one error: `<field>: <body>` (`<nil>` when the path is empty). */
export function formatFieldError(e: FieldError): string {
  return `${e.field || '<nil>'}: ${formatErrorBody(e)}`;
}

/** The errors joined as an aggregate: one message alone, several as `[a, b]`, duplicates dropped. */
export function aggregateMessage(errors: FieldError[]): string {
  const msgs = [...new Set(errors.map(formatFieldError))];
  return msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`;
}

/** Message of a 422 Invalid Status: `BackupPolicy.csbs.dev "nightly" is invalid: <aggregate>`. */
export function invalidMessage(kindDotGroup: string, name: string, errors: FieldError[]): string {
  return `${kindDotGroup} ${JSON.stringify(name)} is invalid: ${aggregateMessage(errors)}`;
}

/** Helpers that build errors with Kubernetes' standard details. */
export const fieldError = {
  required: (field: string, detail = ''): FieldError => ({ type: 'Required', field, detail }),
  invalid: (field: string, value: unknown, detail: string): FieldError => ({
    type: 'Invalid',
    field,
    value,
    detail,
  }),
  notSupported: (field: string, value: unknown, supported: string[]): FieldError => ({
    type: 'NotSupported',
    field,
    value,
    detail: supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : '',
  }),
  tooLong: (field: string, value: unknown, max: number): FieldError => ({
    type: 'TooLong',
    field,
    value,
    detail: max >= 0 ? `may not be longer than ${max}` : 'value is too long',
  }),
  tooMany: (field: string, actual: number, max: number): FieldError => ({
    type: 'TooMany',
    field,
    value: actual,
    detail: `must have at most ${max} items`,
  }),
  forbidden: (field: string, detail: string): FieldError => ({ type: 'Forbidden', field, detail }),
  duplicate: (field: string, value: unknown): FieldError => ({ type: 'Duplicate', field, value, detail: '' }),
};

/** `parent.child` / `parent[3]` path building; keys that are not identifiers use `parent[key]`. */
export function childPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

/** `parent[i]`. */
export function indexPath(parent: string, i: number | string): string {
  return `${parent}[${i}]`;
}
