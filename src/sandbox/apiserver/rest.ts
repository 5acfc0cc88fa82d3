/**
 * The write and read rules of the apiserver's generic registry, independent of HTTP: create, update,
 * status update, patch, delete with finalizers and propagation, get and list. The HTTP layer and the
 * in-process controllers (garbage collector, namespace controller) both go through here, so every write
 * gets the same resourceVersion, generation and finalizer rules.
 */
import { randomUUID } from 'node:crypto';
import type { SchemaAdmission } from './admission.js';
import { validateLabelName } from './admission.js';
import { normalizeOnUpdate } from './builtins.js';
import {
  ApiError,
  STALE_OBJECT_MESSAGE,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  forbiddenField,
  invalid,
  invalidField,
  notFound,
  unsupportedMediaType,
  type FieldCause,
} from './errors.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { apiVersionOf, resourceKey, type ResourceDefinition, type ResourceRegistry } from './resources.js';
import { objectKey, type ObjectStore } from './store.js';
import { clone, deepEqual, isObject, type Json, type JsonObject, type KubeObject } from './types.js';

/** Finalizer the garbage collector handles for foreground deletion. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** Finalizer the garbage collector handles for orphaning deletion. */
export const ORPHAN_FINALIZER = 'orphan';

/** Patch media types the server accepts. */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** `metav1.DeleteOptions`, the parts the server honours. */
export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/** Result of a DELETE: the object (still there with deletionTimestamp, or as last seen) and whether it is gone. */
export interface DeleteResult {
  object: KubeObject;
  deleted: boolean;
}

/** Kinds whose built-in objects carry `metadata.generation`. */
const BUILTIN_GENERATION = new Set(['batch/jobs', 'apiextensions.k8s.io/customresourcedefinitions', '/pods']);
/** Built-ins a PUT may create (AllowCreateOnUpdate). */
const CREATE_ON_UPDATE = new Set(['coordination.k8s.io/leases', '/events', 'events.k8s.io/events']);

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return s;
}

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function tracksGeneration(def: ResourceDefinition): boolean {
  return def.custom || BUILTIN_GENERATION.has(resourceKey(def));
}

/** The part of an object whose change bumps `generation`. */
function specOf(def: ResourceDefinition, obj: KubeObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'metadata' || k === 'apiVersion' || k === 'kind') continue;
    if (k === 'status' && (def.statusSubresource || !def.custom)) continue;
    out[k] = v;
  }
  return out;
}

function withoutVersion(obj: KubeObject): KubeObject {
  return { ...obj, apiVersion: '', metadata: { ...obj.metadata, resourceVersion: '' } };
}

/** The generic registry over the store. */
export class Rest {
  constructor(
    private readonly store: ObjectStore,
    private readonly registry: ResourceRegistry,
    private readonly admission: () => SchemaAdmission,
  ) {}

  /** The object as served in `version` (apiVersion rewritten; CRD versions use the None conversion). */
  served(def: ResourceDefinition, version: string, obj: KubeObject): KubeObject {
    const apiVersion = apiVersionOf(def.group, version);
    return obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
  }

  /** GET one object. */
  get(def: ResourceDefinition, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(resourceKey(def), objectKey(namespace, name));
    if (!obj) throw notFound(def.group, def.plural, name);
    return obj;
  }

  /** Every object of a resource (of one namespace if given), in key order. */
  list(def: ResourceDefinition, namespace: string | undefined): KubeObject[] {
    return this.store.list(resourceKey(def), namespace);
  }

  private checkTypeMeta(def: ResourceDefinition, version: string, body: JsonObject): void {
    const expected = apiVersionOf(def.group, version);
    // Built-in endpoints default a missing kind/apiVersion from the URL (Go typed clients omit them);
    // custom resources are decoded as unstructured data and must carry both.
    if (!def.custom) {
      if (body.kind === undefined || body.kind === '') body.kind = def.kind;
      if (body.apiVersion === undefined || body.apiVersion === '') body.apiVersion = expected;
    }
    if (typeof body.kind !== 'string' || body.kind === '') {
      throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    }
    if (typeof body.apiVersion !== 'string' || body.apiVersion === '') {
      throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(body)}'`);
    }
    if (body.apiVersion !== expected || body.kind !== def.kind) {
      throw badRequest(
        `the API version in the data (${body.apiVersion}) does not match the expected API version (${expected})`,
      );
    }
  }

  private checkNamespace(def: ResourceDefinition, namespace: string | undefined, obj: KubeObject): void {
    if (!def.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    if (obj.metadata.namespace && obj.metadata.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    obj.metadata.namespace = namespace;
  }

  private validate(def: ResourceDefinition, obj: KubeObject, old: KubeObject | undefined): KubeObject {
    const admission = this.admission();
    const causes: FieldCause[] = [...admission.validateObjectMeta(obj, def.namespaced)];
    if (def.group === '' && def.kind === 'Namespace' && obj.metadata.name) {
      causes.push(...validateLabelName(obj.metadata.name));
    }
    if (def.validate) causes.push(...def.validate(obj, old));
    let result = obj;
    if (def.custom) {
      const version = def.versions.find((v) => v.name === def.storageVersion);
      const schema = version?.schema;
      if (schema) {
        const admitted = admission.admit(schema, obj, old);
        result = admitted.object;
        causes.push(...admitted.causes);
      }
    }
    if (causes.length > 0) throw invalid(def.group, def.kind, obj.metadata.name ?? '', dedupe(causes));
    return result;
  }

  /** POST: creates an object; returns it as stored. */
  create(
    def: ResourceDefinition,
    version: string,
    namespace: string | undefined,
    body: Json,
    dryRun = false,
  ): KubeObject {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    let obj = clone(body) as KubeObject;
    this.checkTypeMeta(def, version, obj);
    obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
    this.checkNamespace(def, namespace, obj);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    if (def.namespaced && namespace) this.checkNamespaceOpen(namespace);

    obj.apiVersion = apiVersionOf(def.group, def.storageVersion);
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.resourceVersion;
    delete meta.selfLink;
    delete meta.managedFields;
    if (tracksGeneration(def)) meta.generation = 1;
    else delete meta.generation;
    if (def.custom && def.statusSubresource) delete obj.status;
    def.prepareForCreate?.(obj);
    obj = this.validate(def, obj, undefined);

    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    if (this.store.get(resourceKey(def), key))
      throw alreadyExists(def.group, def.plural, obj.metadata.name ?? '');
    obj.metadata.resourceVersion = String(this.store.nextRv());
    if (dryRun) return obj;
    this.store.insert(resourceKey(def), key, obj);
    return obj;
  }

  private checkNamespaceOpen(namespace: string): void {
    const nsDef = this.registry.get('/namespaces');
    if (!nsDef) return;
    const ns = this.store.get('/namespaces', objectKey(undefined, namespace));
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(
        '',
        'namespaces',
        namespace,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  /** PUT (main endpoint or `/status`): optimistic concurrency, immutable metadata, generation rules. */
  update(
    def: ResourceDefinition,
    version: string,
    namespace: string | undefined,
    name: string,
    body: Json,
    subresource?: 'status',
    dryRun = false,
  ): KubeObject {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    const incoming = clone(body) as KubeObject;
    this.checkTypeMeta(def, version, incoming);
    incoming.metadata = isObject(incoming.metadata) ? incoming.metadata : {};
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    incoming.metadata.name = name;
    this.checkNamespace(def, namespace, incoming);

    const key = objectKey(namespace, name);
    const old = this.store.get(resourceKey(def), key);
    if (!old) {
      if (!subresource && CREATE_ON_UPDATE.has(resourceKey(def)))
        return this.create(def, version, namespace, body, dryRun);
      throw notFound(def.group, def.plural, name);
    }
    const rv = incoming.metadata.resourceVersion;
    if (!rv) {
      if (def.custom) {
        throw invalid(def.group, def.kind, name, [
          {
            reason: 'FieldValueInvalid',
            field: 'metadata.resourceVersion',
            message: 'Invalid value: 0x0: must be specified for an update',
          },
        ]);
      }
    } else if (rv !== old.metadata.resourceVersion) {
      throw conflict(def.group, def.plural, name, STALE_OBJECT_MESSAGE);
    }
    if (incoming.metadata.uid && incoming.metadata.uid !== old.metadata.uid) {
      throw invalid(def.group, def.kind, name, [
        invalidField('metadata.uid', incoming.metadata.uid, 'field is immutable'),
      ]);
    }

    let next: KubeObject;
    if (subresource === 'status') {
      // The status endpoint takes only status from the request; everything else stays as stored.
      next = clone(old);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      if (def.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      const meta = next.metadata;
      meta.uid = old.metadata.uid;
      meta.creationTimestamp = old.metadata.creationTimestamp;
      delete meta.selfLink;
      if (old.metadata.generation !== undefined) meta.generation = old.metadata.generation;
      else delete meta.generation;
      if (old.metadata.deletionTimestamp) {
        meta.deletionTimestamp = old.metadata.deletionTimestamp;
        if (old.metadata.deletionGracePeriodSeconds !== undefined) {
          meta.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
        }
        const added = (meta.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
        if (added.length > 0) {
          throw invalid(def.group, def.kind, name, [
            forbiddenField(
              'metadata.finalizers',
              `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
            ),
          ]);
        }
      } else if (meta.deletionTimestamp) {
        throw invalid(def.group, def.kind, name, [
          invalidField(
            'metadata.deletionTimestamp',
            meta.deletionTimestamp,
            'field is immutable; may only be changed via deletion',
          ),
        ]);
      }
      normalizeOnUpdate(def, next);
    }
    next.apiVersion = apiVersionOf(def.group, def.storageVersion);
    next.kind = def.kind;
    next = this.validate(def, next, old);
    if (
      subresource !== 'status' &&
      tracksGeneration(def) &&
      !deepEqual(specOf(def, next), specOf(def, old))
    ) {
      next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    // An update that changes nothing is not written: no new resourceVersion, no watch event.
    if (deepEqual(withoutVersion(next), withoutVersion(old))) return old;
    next.metadata.resourceVersion = String(this.store.nextRv());
    if (dryRun) return next;
    if (next.metadata.deletionTimestamp && this.finalized(next)) {
      this.store.remove(resourceKey(def), key, next);
      return next;
    }
    this.store.update(resourceKey(def), key, next);
    return next;
  }

  /** No finalizer left: a deleting object may go. */
  private finalized(obj: KubeObject): boolean {
    if ((obj.metadata.finalizers ?? []).length > 0) return false;
    if (obj.kind === 'Namespace' && obj.apiVersion === 'v1') {
      const spec = obj.spec;
      if (isObject(spec) && Array.isArray(spec.finalizers) && spec.finalizers.length > 0) return false;
    }
    return true;
  }

  /** PATCH: applies the patch to the stored object and stores it through the update rules. */
  patch(
    def: ResourceDefinition,
    version: string,
    namespace: string | undefined,
    name: string,
    contentType: string,
    patchBody: Json,
    subresource?: 'status',
    dryRun = false,
  ): KubeObject {
    const accepted = def.custom
      ? [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply]
      : [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic, PATCH_TYPES.apply];
    if (!accepted.includes(contentType as (typeof accepted)[number]) || contentType === PATCH_TYPES.apply) {
      throw unsupportedMediaType(contentType, accepted);
    }
    const old = this.served(def, version, this.get(def, namespace, name));
    let patched: Json;
    if (contentType === PATCH_TYPES.json) patched = jsonPatch(old, patchBody);
    else if (contentType === PATCH_TYPES.merge) patched = mergePatch(old, patchBody);
    else patched = strategicMergePatch(old, patchBody, def.mergeKeys ?? {});
    if (!isObject(patched)) throw badRequest('the patch produced something that is not an object');
    const meta = isObject(patched.metadata) ? patched.metadata : {};
    // A resourceVersion inside the patch is a precondition, as for an update.
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(def.group, def.plural, name, STALE_OBJECT_MESSAGE);
    }
    patched.metadata = { ...meta, resourceVersion: old.metadata.resourceVersion };
    return this.update(def, version, namespace, name, patched, subresource, dryRun);
  }

  /** DELETE: finalizers and foreground/orphan propagation keep the object with a deletionTimestamp. */
  delete(
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): DeleteResult {
    const key = objectKey(namespace, name);
    const obj = this.get(def, namespace, name);
    const pre = options.preconditions ?? {};
    if (pre.uid && pre.uid !== obj.metadata.uid) {
      throw conflict(
        def.group,
        def.plural,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw conflict(
        def.group,
        def.plural,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`,
      );
    }
    let policy = options.propagationPolicy;
    if (!policy && options.orphanDependents !== undefined)
      policy = options.orphanDependents ? 'Orphan' : 'Background';
    policy ??= def.defaultPropagation;

    const finalizers = [...(obj.metadata.finalizers ?? [])];
    const ensure = (f: string): void => {
      if (!finalizers.includes(f)) finalizers.push(f);
    };
    const drop = (f: string): void => {
      const i = finalizers.indexOf(f);
      if (i !== -1) finalizers.splice(i, 1);
    };
    if (policy === 'Foreground') {
      ensure(FOREGROUND_FINALIZER);
      drop(ORPHAN_FINALIZER);
    } else if (policy === 'Orphan') {
      ensure(ORPHAN_FINALIZER);
      drop(FOREGROUND_FINALIZER);
    }
    const isNamespace = def.group === '' && def.kind === 'Namespace';
    if (obj.metadata.deletionTimestamp) {
      // Already deleting: only a change of propagation finalizers is written.
      if (options.propagationPolicy && !deepEqual(finalizers, obj.metadata.finalizers ?? [])) {
        const next = clone(obj);
        next.metadata.finalizers = finalizers;
        next.metadata.resourceVersion = String(this.store.nextRv());
        if (!options.dryRun) this.store.update(resourceKey(def), key, next);
        return { object: next, deleted: false };
      }
      return { object: obj, deleted: false };
    }
    const next = clone(obj);
    if (finalizers.length > 0) next.metadata.finalizers = finalizers;
    else delete next.metadata.finalizers;
    if (isNamespace) next.status = { ...(isObject(obj.status) ? obj.status : {}), phase: 'Terminating' };
    next.metadata.resourceVersion = String(this.store.nextRv());
    if (finalizers.length > 0 || (isNamespace && !this.finalized(next))) {
      next.metadata.deletionTimestamp = now();
      next.metadata.deletionGracePeriodSeconds = 0;
      if (!options.dryRun) this.store.update(resourceKey(def), key, next);
      return { object: next, deleted: false };
    }
    if (!options.dryRun) this.store.remove(resourceKey(def), key, next);
    return { object: next, deleted: true };
  }

  /** The registry, for callers that resolve kinds. */
  get resources(): ResourceRegistry {
    return this.registry;
  }
}

function dedupe(causes: FieldCause[]): FieldCause[] {
  const seen = new Set<string>();
  return causes.filter((c) => {
    const k = `${c.field}\u0000${c.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Re-exported so callers can build errors without importing errors.ts too. */
export { ApiError };
