/** Shared set-up for the apiserver tests: a sandbox with the fixture CRDs, and small client helpers. */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../../src/sandbox/index.js';

/** Directory of the fixture CRDs (in the source tree, next to this file's source). */
export const FIXTURES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  'test',
  'sandbox',
  'apiserver',
  'fixtures',
);

/** Starts a sandbox with the fixture CRDs installed. */
export function sandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  // The API server alone: the simulated cluster's informers would add watches and writes of their own.
  return startSandbox({ crdDirs: [FIXTURES], cluster: false, ...options });
}

/** A JSON object as the custom objects API returns it. */
export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

/** Body of a Status error thrown by client-node. */
export function statusOf(err: unknown): {
  code: number;
  reason: string;
  message: string;
  details?: Record<string, unknown>;
} {
  const e = err as { code?: number; body?: unknown };
  const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
  return body as { code: number; reason: string; message: string };
}

/** Runs `fn`, expecting it to throw a Status error; returns the Status. */
export async function rejection(fn: () => Promise<unknown>): Promise<ReturnType<typeof statusOf>> {
  try {
    await fn();
  } catch (err) {
    return statusOf(err);
  }
  throw new Error('expected the request to fail');
}

/** A Widget fixture object. */
export function widget(name: string, spec: Record<string, unknown> = {}, extra: Partial<Obj> = {}): Obj {
  return { apiVersion: 'test.csbs.dev/v1', kind: 'Widget', metadata: { name }, spec, ...extra };
}

/** Merge-patch header option for client-node calls. */
export const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
/** JSON-patch header option. */
export const JSON_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
/** Strategic-merge-patch header option. */
export const STRATEGIC = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

/** Polls until `check` returns a truthy value (for asynchronous server controllers). */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
