/**
 * Finalizers: pure checks plus add/remove writes. Writes are merge patches of `metadata.finalizers`
 * guarded by the object's resourceVersion, because merge patch replaces the whole list: without the
 * guard a concurrent writer's finalizer could be dropped. A stale object gets 409 Conflict, which the
 * work queue retries after ~1 s on a fresh read.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import type { ResourceKind } from './kinds.js';

/** True when the object carries the finalizer. */
export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/** True once deletion was requested (deletionTimestamp set): finalize, do not start new work. */
export function isBeingDeleted(obj: KubernetesObject): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

/**
 * Adds the finalizer if missing; returns the object as stored afterwards (the same object when it was
 * already there, so no write happens). Never adds to an object being deleted (the API server refuses).
 */
export async function addFinalizer<T extends KubernetesObject>(
  client: KubeClient,
  kind: ResourceKind<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer) || isBeingDeleted(obj)) return obj;
  const finalizers = [...(obj.metadata?.finalizers ?? []), finalizer];
  return patchFinalizers(client, kind, obj, finalizers);
}

/** Removes the finalizer if present; returns the object as stored afterwards (it may then be gone). */
export async function removeFinalizer<T extends KubernetesObject>(
  client: KubeClient,
  kind: ResourceKind<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const finalizers = (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer);
  return patchFinalizers(client, kind, obj, finalizers);
}

async function patchFinalizers<T extends KubernetesObject>(
  client: KubeClient,
  kind: ResourceKind<T>,
  obj: T,
  finalizers: string[],
): Promise<T> {
  const metadata: Record<string, unknown> = { finalizers };
  if (obj.metadata?.resourceVersion) metadata.resourceVersion = obj.metadata.resourceVersion;
  return client.patch(kind, obj.metadata?.namespace, obj.metadata?.name ?? '', { metadata });
}
