/**
 * The object store: every object of every resource, one global resourceVersion counter (etcd's revision),
 * a bounded history of change events for watches, and the uid and owner indexes the garbage collector
 * reads. Stored objects are never mutated in place: writers store fresh copies, so readers may serialise
 * them directly.
 */
import type { KubeObject } from './types.js';

/** A change, as watches deliver it. */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** Storage key of the resource (`group/plural`). */
  resource: string;
  object: KubeObject;
  /** The object before a MODIFIED or DELETED change. */
  previous?: KubeObject;
  rv: number;
}

/** Where an object lives: its resource and its `namespace/name` key. */
export interface ObjectLocation {
  resource: string;
  key: string;
}

/** The `namespace/name` key of an object (namespace empty for cluster-scoped ones). */
export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** A saved store, as persistence writes it. */
export interface StoreSnapshot {
  resourceVersion: number;
  objects: Array<{ resource: string; object: KubeObject }>;
}

/** In-memory store with a global revision and a change history window. */
export class ObjectStore {
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  /** Sorted keys per resource, rebuilt lazily after an insert or removal (updates keep the order). */
  private readonly sortedKeys = new Map<string, string[]>();
  private readonly byUid = new Map<string, ObjectLocation>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private history: StoreEvent[] = [];
  private historyStart = 0;
  private rv = 0;
  /** Events with rv <= compactedRv are no longer available to watches. */
  private compactedRv = 0;

  constructor(private historyLimit: number) {}

  /** The current global resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** The oldest resourceVersion a watch may still start from. */
  get oldestWatchableRv(): number {
    return this.compactedRv;
  }

  /** One object, or undefined. */
  get(resource: string, key: string): KubeObject | undefined {
    return this.objects.get(resource)?.get(key);
  }

  /** Objects of a resource, in key order, optionally of one namespace. */
  list(resource: string, namespace?: string): KubeObject[] {
    const all = this.objects.get(resource);
    if (!all) return [];
    let keys = this.sortedKeys.get(resource);
    if (!keys) {
      keys = [...all.keys()].sort();
      this.sortedKeys.set(resource, keys);
    }
    const prefix = namespace === undefined ? undefined : `${namespace}/`;
    const out: KubeObject[] = [];
    for (const k of keys) if (prefix === undefined || k.startsWith(prefix)) out.push(all.get(k)!);
    return out;
  }

  /** Number of objects of a resource. */
  count(resource: string): number {
    return this.objects.get(resource)?.size ?? 0;
  }

  /** Storage keys of every resource holding objects. */
  resources(): string[] {
    return [...this.objects.keys()];
  }

  /** Where the object with this uid lives. */
  locate(uid: string): ObjectLocation | undefined {
    return this.byUid.get(uid);
  }

  /** Objects whose ownerReferences name this uid. */
  dependentsOf(uid: string): ObjectLocation[] {
    return [...(this.dependents.get(uid) ?? [])].map((s) => {
      const i = s.indexOf('|');
      return { resource: s.slice(0, i), key: s.slice(i + 1) };
    });
  }

  /** The next resourceVersion, for a write about to happen. */
  nextRv(): number {
    return this.rv + 1;
  }

  /** Stores a new object (its metadata.resourceVersion must be `nextRv()`). */
  insert(resource: string, key: string, object: KubeObject): void {
    this.write('ADDED', resource, key, object, undefined);
  }

  /** Replaces an existing object. */
  update(resource: string, key: string, object: KubeObject): void {
    this.write('MODIFIED', resource, key, object, this.get(resource, key));
  }

  /** Removes an object; the DELETED event carries `object` (with the deletion's resourceVersion). */
  remove(resource: string, key: string, object: KubeObject): void {
    this.write('DELETED', resource, key, object, this.get(resource, key));
  }

  private write(
    type: StoreEvent['type'],
    resource: string,
    key: string,
    object: KubeObject,
    previous: KubeObject | undefined,
  ): void {
    this.rv += 1;
    let bucket = this.objects.get(resource);
    if (!bucket) {
      bucket = new Map();
      this.objects.set(resource, bucket);
    }
    if (previous) this.unindex(resource, key, previous);
    if (type !== 'MODIFIED') this.sortedKeys.delete(resource);
    if (type === 'DELETED') {
      bucket.delete(key);
      if (bucket.size === 0) this.objects.delete(resource);
    } else {
      bucket.set(key, object);
      this.index(resource, key, object);
    }
    const event: StoreEvent = { type, resource, object, rv: this.rv };
    if (previous) event.previous = previous;
    this.history.push(event);
    this.trimHistory();
    for (const l of this.listeners) l(event);
  }

  private index(resource: string, key: string, obj: KubeObject): void {
    if (obj.metadata.uid) this.byUid.set(obj.metadata.uid, { resource, key });
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (!set) {
        set = new Set();
        this.dependents.set(ref.uid, set);
      }
      set.add(`${resource}|${key}`);
    }
  }

  private unindex(resource: string, key: string, obj: KubeObject): void {
    if (obj.metadata.uid) this.byUid.delete(obj.metadata.uid);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const set = this.dependents.get(ref.uid);
      set?.delete(`${resource}|${key}`);
      if (set && set.size === 0) this.dependents.delete(ref.uid);
    }
  }

  private trimHistory(): void {
    const excess = this.history.length - this.historyStart - this.historyLimit;
    if (excess > 0) {
      this.historyStart += excess;
      this.compactedRv = this.history[this.historyStart - 1].rv;
      // Drop the consumed prefix in batches so trimming stays O(1) amortised.
      if (this.historyStart > 1024 && this.historyStart * 2 > this.history.length) {
        this.history = this.history.slice(this.historyStart);
        this.historyStart = 0;
      }
    }
  }

  /** Events after `rv` still in the history, or undefined if some were compacted away. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    const out: StoreEvent[] = [];
    // History is ordered by rv: binary search the first event after rv.
    let lo = this.historyStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid].rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.history.length; i++) out.push(this.history[i]);
    return out;
  }

  /** Drops the whole history, as an etcd compaction at the current revision does. */
  compact(): void {
    this.history = [];
    this.historyStart = 0;
    this.compactedRv = this.rv;
  }

  /** Changes the history window (in events). */
  setHistoryLimit(limit: number): void {
    this.historyLimit = limit;
    this.trimHistory();
  }

  /** Calls `listener` synchronously after every write. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everything, for persistence. */
  snapshot(): StoreSnapshot {
    const objects: StoreSnapshot['objects'] = [];
    for (const [resource, bucket] of this.objects)
      for (const object of bucket.values()) objects.push({ resource, object });
    return { resourceVersion: this.rv, objects };
  }

  /** Loads a snapshot into an empty store; history starts empty at its revision. */
  restore(snapshot: StoreSnapshot): void {
    for (const { resource, object } of snapshot.objects) {
      const key = objectKey(object.metadata.namespace, object.metadata.name ?? '');
      let bucket = this.objects.get(resource);
      if (!bucket) {
        bucket = new Map();
        this.objects.set(resource, bucket);
      }
      bucket.set(key, object);
      this.index(resource, key, object);
      this.sortedKeys.delete(resource);
    }
    this.rv = snapshot.resourceVersion;
    this.compactedRv = this.rv;
  }
}
