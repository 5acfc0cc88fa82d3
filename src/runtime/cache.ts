/**
 * The cache reconcilers read from: one informer per kind, shared by every controller that names the
 * kind. Reads never touch the API server; they may lag it by the watch delay.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer } from './informer.js';
import { kindId, type ResourceKind } from './kinds.js';
import type { CacheReader } from './reconciler.js';

/** True when `obj` carries every label of `selector` with the same value. */
export function matchesLabels(obj: KubernetesObject, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  const labels = obj.metadata?.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A {@link CacheReader} over a set of informers. */
export class InformerCache implements CacheReader {
  private readonly informers = new Map<string, Informer>();

  /** Adds the informer of a kind (one per kind). */
  register(informer: Informer): void {
    this.informers.set(kindId(informer.kind), informer);
  }

  /** The informer of `kind`, if one is registered. */
  informerFor<T extends KubernetesObject>(kind: ResourceKind<T>): Informer<T> | undefined {
    return this.informers.get(kindId(kind)) as Informer<T> | undefined;
  }

  /** Every registered informer. */
  all(): Informer[] {
    return [...this.informers.values()];
  }

  /** True when every informer has applied its first list. */
  hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  get<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    namespace: string | undefined,
    name: string,
  ): T | undefined {
    return this.require(kind).get(namespace, name);
  }

  list<T extends KubernetesObject>(
    kind: ResourceKind<T>,
    opts: { namespace?: string; labels?: Record<string, string> } = {},
  ): T[] {
    return this.require(kind)
      .list(opts.namespace)
      .filter((obj) => matchesLabels(obj, opts.labels));
  }

  private require<T extends KubernetesObject>(kind: ResourceKind<T>): Informer<T> {
    const informer = this.informerFor(kind);
    if (!informer) {
      throw new Error(
        `${kindId(kind)} is not cached: add it to a reconciler's for/owns/watches, or read it with the client`,
      );
    }
    return informer;
  }
}
