/**
 * Counts the API requests the server answers, by user, verb and resource, as kube-apiserver's
 * `apiserver_request_total` does (plus the user, which audit logs carry). Benchmarks read it to say how
 * many requests a controller makes per object. The sandbox does no authentication: the user is the
 * bearer token's text (a kubeconfig can name its client that way) or the basic-auth user name.
 */

/** One counter: requests of one user with one verb on one resource. */
export interface RequestCount {
  user: string;
  verb: string;
  /** `pods`, `backups/status`, `pods/log`; `discovery` for everything outside a resource. */
  resource: string;
  count: number;
}

/** The user a request's `Authorization` header names, `system:anonymous` without one. */
export function requestUser(authorization: string | undefined): string {
  if (!authorization) return 'system:anonymous';
  const [scheme, value = ''] = authorization.split(' ', 2);
  if (scheme.toLowerCase() === 'bearer' && value) return value;
  if (scheme.toLowerCase() === 'basic' && value) {
    const user = Buffer.from(value, 'base64').toString('utf8').split(':')[0];
    if (user) return user;
  }
  return 'system:anonymous';
}

/** Resource path segments after `/api/v1` or `/apis/<group>/<version>`, without `namespaces/<ns>`. */
function resourceSegments(pathname: string): string[] | undefined {
  const parts = pathname.split('/').filter(Boolean);
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 4) rest = parts.slice(3);
  else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  return rest;
}

/** The resource a path addresses (`backups`, `backups/status`), or `discovery`. */
export function requestResource(pathname: string): string {
  const rest = resourceSegments(pathname);
  if (!rest) return 'discovery';
  return rest.length >= 3 ? `${rest[0]}/${rest[2]}` : rest[0];
}

/** The Kubernetes verb of a request: get, list, watch, create, update, patch, delete, deletecollection. */
export function requestVerb(method: string, url: URL): string {
  const rest = resourceSegments(url.pathname);
  const collection = rest !== undefined && rest.length === 1;
  switch (method) {
    case 'GET': {
      const watch = url.searchParams.get('watch');
      if (watch === 'true' || watch === '1') return 'watch';
      return collection ? 'list' : 'get';
    }
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return collection ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

/** The counters of one API server. */
export class RequestCounter {
  private readonly counts = new Map<string, RequestCount>();

  /** Counts one request. */
  record(user: string, verb: string, resource: string): void {
    const key = `${user}\u0000${verb}\u0000${resource}`;
    const c = this.counts.get(key);
    if (c) c.count++;
    else this.counts.set(key, { user, verb, resource, count: 1 });
  }

  /** A copy of every counter, largest first. */
  snapshot(): RequestCount[] {
    return [...this.counts.values()].map((c) => ({ ...c })).sort((a, b) => b.count - a.count);
  }

  /** Requests so far, of one user when given. */
  total(user?: string): number {
    let n = 0;
    for (const c of this.counts.values()) if (user === undefined || c.user === user) n += c.count;
    return n;
  }
}
