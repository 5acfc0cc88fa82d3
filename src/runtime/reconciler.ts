/**
 * The Reconciler contract: what a controller gives the Manager, and what the Manager hands back to each
 * reconcile. A reconciler is keyed by its primary kind; changes to the objects it owns or watches are
 * mapped to primary keys and enqueued, so reconcile sees only a key and reads the world afresh.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import type { Clock } from './clock.js';
import type { EventRecorder } from './events.js';
import type { ResourceKind } from './kinds.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';

/** Identifies one object of the primary kind. `namespace` is '' for cluster-scoped kinds. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

/** The key of an object. */
export function keyOf(obj: KubernetesObject): ObjectKey {
  return { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
}

/** `namespace/name` (or `name` when cluster-scoped): the queue's and logs' form of a key. */
export function keyString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

/** Inverse of {@link keyString}. */
export function parseKey(s: string): ObjectKey {
  const slash = s.indexOf('/');
  return slash < 0 ? { namespace: '', name: s } : { namespace: s.slice(0, slash), name: s.slice(slash + 1) };
}

/** Read access to the informer caches (what was last seen from watches; may lag the API server). */
export interface CacheReader {
  /** One cached object, or undefined. Throws if the kind is not watched by any registered reconciler. */
  get<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace: string | undefined,
    name: string,
  ): T | undefined;
  /** Cached objects of a kind, optionally in one namespace and carrying all the given labels. */
  list<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    opts?: { namespace?: string; labels?: Record<string, string> },
  ): T[];
}

/** Everything a reconcile may use. One context per reconcile call; `log` carries the object's key. */
export interface ReconcileContext {
  /** The reconciler's name. */
  controller: string;
  client: KubeClient;
  cache: CacheReader;
  events: EventRecorder;
  /** Carries `controller`, `namespace`, `name`. */
  log: Logger;
  clock: Clock;
  metrics: Metrics;
  /** Aborted when the manager shuts down or loses leadership: stop waiting, return. */
  signal: AbortSignal;
}

/**
 * What a reconcile asks for: `requeueAfterMs` schedules another reconcile of the same key (timed
 * triggers such as schedules, or polling something no watch reports). Returning nothing means "done
 * until something changes". Throwing means "retry with per-key exponential backoff"; a 409 Conflict is
 * retried after ~1 s without an error log.
 */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** Maps a changed object to the primary keys it concerns. */
export type KeyMapper = (obj: KubernetesObject, cache: CacheReader) => ObjectKey[];

/** A secondary kind to watch, with how its changes map to primary keys (no `map`: cache only). */
export interface WatchSpec {
  kind: ResourceKind;
  map?: KeyMapper;
  /**
   * Label selector the kind's informer lists and watches with: only those objects are cached (say,
   * the Pods of our own Jobs rather than every Pod in the cluster). Every watch of a kind must agree.
   */
  selector?: string;
}

/** A controller as the Manager runs it. */
export interface Reconciler {
  /** Unique, lower-case (`backup`, `oneoffbackup`): used in logs, metrics and the queue. */
  name: string;
  /** The primary kind: each change to one of its objects enqueues that object's key. */
  for: ResourceKind;
  /** Kinds whose objects carry a controller ownerReference to the primary kind: enqueue the owner. */
  owns?: ResourceKind[];
  /** Other kinds, mapped to primary keys by a function (e.g. by label: {@link mapByLabel}). */
  watches?: WatchSpec[];
  /** Parallel reconciles of different keys (default: the manager's `--concurrency`). One key never runs twice at once. */
  concurrency?: number;
  /** Brings the world in line with the object `key` (which may no longer exist). Must be idempotent. */
  reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void>;
}

/** Typed form of a {@link WatchSpec}: `watch(Kinds.Pod, (pod) => ...)`. */
export function watch<T extends KubernetesObject>(
  kind: ResourceKind<T>,
  map?: (obj: T, cache: CacheReader) => ObjectKey[],
): WatchSpec {
  return { kind, map: map as KeyMapper | undefined };
}

/**
 * Maps an object labelled `label=<name>` to the primary object `<name>` in the same namespace: a Job
 * labelled `csbs.dev/backup=x` enqueues Backup `x`.
 */
export function mapByLabel(label: string): KeyMapper {
  return (obj) => {
    const value = obj.metadata?.labels?.[label];
    return value ? [{ namespace: obj.metadata?.namespace ?? '', name: value }] : [];
  };
}

/** Maps an object to its controller owner of `ownerKind` (what `owns` does). */
export function mapByOwner(ownerKind: ResourceKind): KeyMapper {
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter(
        (ref) => ref.controller && ref.kind === ownerKind.kind && ref.apiVersion === ownerKind.apiVersion,
      )
      .map((ref) => ({ namespace: obj.metadata?.namespace ?? '', name: ref.name }));
}

/** A controller ownerReference to `owner`, for children created by a reconciler (so `owns` maps them back). */
export function controllerRef(owner: KubernetesObject, kind: ResourceKind) {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}
