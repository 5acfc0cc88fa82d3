/**
 * Kubernetes `Status` errors: the reasons, codes and message wording of kube-apiserver, so clients that
 * match on `reason` or on message text behave as they would against a real cluster.
 */

/** One `details.causes` entry of a Status. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** The `details` of a Status: which object the error is about. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A `meta/v1 Status` object as the apiserver writes it. */
export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An error that the HTTP layer turns into a Status response with its code. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The Status object sent to clients. */
  toStatus(): StatusObject {
    const status: StatusObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

/** `group/resource` as the apiserver names it in messages: `backups.csbs.dev`, or `pods` for core. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** 404 NotFound: `backups.csbs.dev "x" not found`. */
export function notFound(group: string, resource: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(group, resource)} "${name}" not found`, {
    name,
    group,
    kind: resource,
  });
}

/** 409 AlreadyExists: `backups.csbs.dev "x" already exists`. */
export function alreadyExists(group: string, resource: string, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualifiedResource(group, resource)} "${name}" already exists`,
    {
      name,
      group,
      kind: resource,
    },
  );
}

/** 409 Conflict with the apiserver's "Operation cannot be fulfilled" wording. */
export function conflict(group: string, resource: string, name: string, why: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": ${why}`,
    { name, group, kind: resource },
  );
}

/** The optimistic-concurrency message of a stale resourceVersion. */
export const STALE_OBJECT_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/** One field error, in the apiserver's `field.Error` terms. */
export interface FieldCause {
  /** `FieldValueInvalid`, `FieldValueRequired`, `FieldValueForbidden`, `FieldValueNotSupported`, ... */
  reason: string;
  /** Dotted path, e.g. `spec.retention.maxCount`. */
  field: string;
  /** Text after the field, e.g. `Invalid value: 0: must be greater than or equal to 1`. */
  message: string;
}

/** 422 Invalid: `Kind.group "name" is invalid: field: message` (several errors go in brackets). */
export function invalid(group: string, kind: string, name: string, causes: FieldCause[]): ApiError {
  const parts = [...new Set(causes.map((c) => `${c.field || '<nil>'}: ${c.message}`))];
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    group,
    kind,
    causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
  });
}

/** Go's `%v` rendering of a bad value inside "Invalid value: ..." messages. */
export function formatBadValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A `field.Invalid` cause. */
export function invalidField(field: string, value: unknown, detail: string): FieldCause {
  return {
    reason: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${formatBadValue(value)}: ${detail}`,
  };
}

/** A `field.Required` cause. */
export function requiredField(field: string, detail: string): FieldCause {
  return { reason: 'FieldValueRequired', field, message: `Required value${detail ? `: ${detail}` : ''}` };
}

/** A `field.Forbidden` cause. */
export function forbiddenField(field: string, detail: string): FieldCause {
  return { reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` };
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** 403 Forbidden with the apiserver's wording for a resource. */
export function forbidden(group: string, resource: string, name: string, why: string): ApiError {
  const subject = name
    ? `${qualifiedResource(group, resource)} "${name}"`
    : qualifiedResource(group, resource);
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${why}`, { name, group, kind: resource });
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );
}

/** 415 UnsupportedMediaType, as answered for strategic-merge-patch on custom resources. */
export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    { causes: [{ reason: 'UnexpectedHeader', message: `the server does not support ${contentType}` }] },
  );
}

/** 410 Expired: a watch or list from a resourceVersion older than the retained history. */
export function expired(requested: number, oldest: number): ApiError {
  return new ApiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/** 500 InternalError. */
export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ reason: '', message }],
  });
}

/** The Status for an HTTP code with no particular reason (fault injection, unknown paths). */
export function statusForCode(code: number, message?: string): ApiError {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return new ApiError(code, reasons[code] ?? 'Unknown', message ?? `injected fault: HTTP ${code}`);
}
