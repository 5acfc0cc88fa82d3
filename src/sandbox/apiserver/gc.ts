/**
 * The server's built-in controllers, acting on the store through the registry rules like
 * kube-controller-manager would: the ownerReference garbage collector (background, foreground and orphan
 * propagation), the namespace controller (deleting a namespace deletes its contents), and the CRD
 * cleanup controller (deleting a CRD deletes its custom resources).
 */
import { CRD_CLEANUP_FINALIZER, CRD_RESOURCE, definitionFromCrd } from './crds.js';
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, type Rest } from './rest.js';
import type { ResourceDefinition, ResourceRegistry } from './resources.js';
import { objectKey, type ObjectLocation, type ObjectStore, type StoreEvent } from './store.js';
import type { TaskQueue } from './queue.js';
import { clone, isObject, type KubeObject } from './types.js';

const NAMESPACES = '/namespaces';

/** Wires the garbage collector, namespace controller and CRD controller to store events. */
export class ServerControllers {
  constructor(
    private readonly store: ObjectStore,
    private readonly registry: ResourceRegistry,
    private readonly rest: Rest,
    private readonly queue: TaskQueue,
  ) {
    store.subscribe((e) => this.onEvent(e));
  }

  /** Serves every CRD already in the store (after a restore from disk). */
  syncCrds(): void {
    for (const crd of this.store.list(CRD_RESOURCE)) this.serveCrd(crd);
  }

  private serveCrd(crd: KubeObject): void {
    const def = definitionFromCrd(crd);
    if (def) this.registry.register(def);
  }

  private onEvent(e: StoreEvent): void {
    const obj = e.object;
    if (e.resource === CRD_RESOURCE) {
      // Serving follows the CRD synchronously: a CR can be created right after the CRD's POST returns.
      if (e.type === 'DELETED') {
        const def = e.previous ? definitionFromCrd(e.previous) : undefined;
        if (def) this.registry.unregister(def.group, def.plural);
      } else {
        if (e.previous) {
          const before = definitionFromCrd(e.previous);
          const after = definitionFromCrd(obj);
          if (before && (!after || before.plural !== after.plural || before.group !== after.group)) {
            this.registry.unregister(before.group, before.plural);
          }
        }
        this.serveCrd(obj);
        if (obj.metadata.deletionTimestamp)
          this.queue.enqueue(`crd:${obj.metadata.name}`, () => this.cleanupCrd(obj.metadata.name ?? ''));
      }
    }
    const crdName = this.defOf(e.resource)?.crdName;
    if (crdName && e.type === 'DELETED') {
      const crd = this.store.get(CRD_RESOURCE, objectKey(undefined, crdName));
      if (crd?.metadata.deletionTimestamp)
        this.queue.enqueue(`crd:${crdName}`, () => this.cleanupCrd(crdName));
    }
    const uid = obj.metadata.uid;
    if (e.type === 'DELETED' && uid) {
      for (const dep of this.store.dependentsOf(uid))
        this.queue.enqueue(`dep:${dep.resource}|${dep.key}`, () => this.attemptDependent(dep));
    }
    if (e.type !== 'DELETED') {
      if ((obj.metadata.ownerReferences ?? []).length > 0) {
        const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
        const loc = { resource: e.resource, key };
        this.queue.enqueue(`dep:${e.resource}|${key}`, () => this.attemptDependent(loc));
      }
      if (obj.metadata.deletionTimestamp && uid) {
        const fins = obj.metadata.finalizers ?? [];
        if (fins.includes(FOREGROUND_FINALIZER) || fins.includes(ORPHAN_FINALIZER)) {
          this.queue.enqueue(`owner:${uid}`, () => this.processDeletingOwner(uid));
        }
      }
    }
    // A waiting foreground owner re-checks whenever one of its dependents changes or goes.
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const owner = this.store.locate(ref.uid);
      if (owner) this.queue.enqueue(`owner:${ref.uid}`, () => this.processDeletingOwner(ref.uid));
    }
    if (e.resource === NAMESPACES && obj.metadata.deletionTimestamp && e.type !== 'DELETED') {
      this.queue.enqueue(`ns:${obj.metadata.name}`, () => this.finalizeNamespace(obj.metadata.name ?? ''));
    }
    if (obj.metadata.namespace) {
      const ns = this.store.get(NAMESPACES, objectKey(undefined, obj.metadata.namespace));
      if (ns?.metadata.deletionTimestamp) {
        this.queue.enqueue(`ns:${ns.metadata.name}`, () => this.finalizeNamespace(ns.metadata.name ?? ''));
      }
    }
  }

  private defOf(resource: string): ResourceDefinition | undefined {
    return this.registry.get(resource);
  }

  private nameOf(key: string): { namespace: string | undefined; name: string } {
    const i = key.indexOf('/');
    const ns = key.slice(0, i);
    return { namespace: ns || undefined, name: key.slice(i + 1) };
  }

  /** Deletes a dependent whose owners are all gone, or drops its dangling references. */
  private attemptDependent(loc: ObjectLocation): void {
    const obj = this.store.get(loc.resource, loc.key);
    const def = this.defOf(loc.resource);
    if (!obj || !def) return;
    const refs = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const solid: string[] = [];
    const waiting: string[] = [];
    const dangling: string[] = [];
    for (const ref of refs) {
      const ownerLoc = this.store.locate(ref.uid);
      const owner = ownerLoc ? this.store.get(ownerLoc.resource, ownerLoc.key) : undefined;
      if (!owner) dangling.push(ref.uid);
      else if (
        owner.metadata.deletionTimestamp &&
        (owner.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER)
      ) {
        waiting.push(ref.uid);
      } else solid.push(ref.uid);
    }
    const { namespace, name } = this.nameOf(loc.key);
    if (solid.length > 0) {
      if (dangling.length === 0) return;
      const next = clone(obj);
      next.metadata.ownerReferences = refs.filter((r) => !dangling.includes(r.uid)) as typeof refs;
      this.rest.update(def, def.storageVersion, namespace, name, next);
      return;
    }
    if (obj.metadata.deletionTimestamp) return;
    this.rest.delete(def, namespace, name, {
      propagationPolicy: waiting.length > 0 ? 'Foreground' : 'Background',
    });
  }

  /** Foreground: delete dependents, then release the owner. Orphan: detach dependents, then release. */
  private processDeletingOwner(uid: string): void {
    const loc = this.store.locate(uid);
    const owner = loc ? this.store.get(loc.resource, loc.key) : undefined;
    const def = loc ? this.defOf(loc.resource) : undefined;
    if (!loc || !owner || !def || !owner.metadata.deletionTimestamp) return;
    const fins = owner.metadata.finalizers ?? [];
    const dependents = this.store.dependentsOf(uid);
    let release: string | undefined;
    if (fins.includes(ORPHAN_FINALIZER)) {
      for (const dep of dependents) {
        const obj = this.store.get(dep.resource, dep.key);
        const depDef = this.defOf(dep.resource);
        if (!obj || !depDef) continue;
        const next = clone(obj);
        const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (refs.length > 0) next.metadata.ownerReferences = refs as typeof obj.metadata.ownerReferences;
        else delete next.metadata.ownerReferences;
        const { namespace, name } = this.nameOf(dep.key);
        this.rest.update(depDef, depDef.storageVersion, namespace, name, next);
      }
      release = ORPHAN_FINALIZER;
    } else if (fins.includes(FOREGROUND_FINALIZER)) {
      if (dependents.length > 0) {
        for (const dep of dependents) this.attemptDependent(dep);
        return;
      }
      release = FOREGROUND_FINALIZER;
    }
    if (!release) return;
    const next = clone(owner);
    next.metadata.finalizers = fins.filter((f) => f !== release);
    const { namespace, name } = this.nameOf(loc.key);
    this.rest.update(def, def.storageVersion, namespace, name, next);
  }

  /** Deletes everything in a terminating namespace, then the namespace itself. */
  private finalizeNamespace(name: string): void {
    const ns = this.store.get(NAMESPACES, objectKey(undefined, name));
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const def of this.registry.all()) {
      if (!def.namespaced) continue;
      for (const obj of this.store.list(`${def.group}/${def.plural}`, name)) {
        remaining++;
        if (!obj.metadata.deletionTimestamp)
          this.rest.delete(def, name, obj.metadata.name ?? '', { propagationPolicy: 'Background' });
      }
    }
    if (remaining > 0) return;
    // Empty: drop the `kubernetes` finalizer as the namespace controller's /finalize call does.
    const next = clone(ns);
    const spec = isObject(next.spec) ? next.spec : {};
    spec.finalizers = [];
    next.spec = spec;
    next.metadata.resourceVersion = String(this.store.nextRv());
    const key = objectKey(undefined, name);
    if ((next.metadata.finalizers ?? []).length === 0) this.store.remove(NAMESPACES, key, next);
    else this.store.update(NAMESPACES, key, next);
  }

  /** Deletes a terminating CRD's custom resources, then releases the CRD. */
  private cleanupCrd(name: string): void {
    const crd = this.store.get(CRD_RESOURCE, objectKey(undefined, name));
    if (!crd?.metadata.deletionTimestamp || !(crd.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER))
      return;
    const def = definitionFromCrd(crd);
    if (def) {
      const items = this.store.list(`${def.group}/${def.plural}`);
      if (items.length > 0) {
        for (const obj of items) {
          if (!obj.metadata.deletionTimestamp)
            this.rest.delete(def, obj.metadata.namespace, obj.metadata.name ?? '', {});
        }
        return;
      }
    }
    const next = clone(crd);
    next.metadata.finalizers = (crd.metadata.finalizers ?? []).filter((f) => f !== CRD_CLEANUP_FINALIZER);
    const crdDef = this.registry.get(CRD_RESOURCE)!;
    this.rest.update(crdDef, 'v1', undefined, name, next);
  }
}
