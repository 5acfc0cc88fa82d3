/**
 * API errors: every failed request becomes an {@link ApiError} carrying the HTTP code and the `reason`
 * of the Kubernetes `Status` body, so callers branch on meaning (NotFound, Conflict...) not on text.
 */

/** A field-level cause from `Status.details.causes` (e.g. which field an Invalid object got wrong). */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** The Kubernetes `Status` object as error bodies carry it. */
export interface StatusBody {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
}

/** Status reasons (`metav1.StatusReason`) we branch on. */
export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'Gone'
  | 'Expired'
  | 'Forbidden'
  | 'Unauthorized'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'ServerTimeout'
  | 'Timeout'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Unknown';

const reasonByCode: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A request the API server (or the network) refused. `code` is 0 for transport failures. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: StatusReason;
  readonly status?: StatusBody;
  readonly method: string;
  readonly path: string;

  constructor(opts: {
    code: number;
    method: string;
    path: string;
    status?: StatusBody;
    message?: string;
    cause?: unknown;
  }) {
    const reason = classify(opts.code, opts.status);
    const text = opts.status?.message ?? opts.message ?? `HTTP ${opts.code}`;
    super(
      `${opts.method} ${opts.path}: ${text}`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = 'ApiError';
    this.code = opts.code;
    this.reason = reason;
    this.status = opts.status;
    this.method = opts.method;
    this.path = opts.path;
  }

  /** Field causes of an Invalid (422) answer, empty otherwise. */
  get causes(): StatusCause[] {
    return this.status?.details?.causes ?? [];
  }
}

function classify(code: number, status?: StatusBody): StatusReason {
  const given = status?.reason;
  // AlreadyExists and Conflict share 409: only the body's reason tells them apart.
  if (given && given !== 'Unknown' && given !== '') return given as StatusReason;
  if (code === 0) return 'Unknown';
  return reasonByCode[code] ?? 'Unknown';
}

/** The Status reason of an error, or undefined when it is not an {@link ApiError}. */
export function reasonOf(err: unknown): StatusReason | undefined {
  return err instanceof ApiError ? err.reason : undefined;
}

/** 404: the object (or its namespace) does not exist. */
export function isNotFound(err: unknown): boolean {
  return reasonOf(err) === 'NotFound';
}

/** 409 AlreadyExists: a create hit an existing name (with deterministic names, that is success). */
export function isAlreadyExists(err: unknown): boolean {
  return reasonOf(err) === 'AlreadyExists';
}

/** 409 Conflict: a stale resourceVersion; re-read and retry. */
export function isConflict(err: unknown): boolean {
  return reasonOf(err) === 'Conflict';
}

/** 422 Invalid: the object failed validation; retrying the same write is pointless. */
export function isInvalid(err: unknown): boolean {
  return reasonOf(err) === 'Invalid';
}

/** 410 Gone/Expired: a watch or list resourceVersion fell out of the server's history. */
export function isGone(err: unknown): boolean {
  const reason = reasonOf(err);
  return reason === 'Gone' || reason === 'Expired';
}

/** 403 Forbidden (RBAC, or a namespace being terminated). */
export function isForbidden(err: unknown): boolean {
  return reasonOf(err) === 'Forbidden';
}

/** Errors worth retrying as they are: throttling, timeouts, server and transport failures. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return (
    err.code === 0 ||
    err.code >= 500 ||
    err.reason === 'TooManyRequests' ||
    err.reason === 'ServerTimeout' ||
    err.reason === 'Timeout'
  );
}
