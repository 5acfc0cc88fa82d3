/** Shared helpers of the simulated cluster's tests: polling and small object builders. */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';

/** What {@link useSandboxCluster} sets up: filled in by its mocha hooks. */
export interface ClusterContext {
  sb: Sandbox;
  kc: KubeConfig;
  core: CoreV1Api;
  /** This test's fresh namespace. */
  ns: string;
}

/**
 * Registers the mocha hooks every cluster test file needs: one sandbox (cluster on) for the file,
 * stopped after it, and a fresh namespace `<prefix>-<n>` per test. Call it at the top of a describe.
 */
export function useSandboxCluster(prefix: string): ClusterContext {
  const ctx = {} as ClusterContext;
  let n = 0;
  before(async () => {
    ctx.sb = await startSandbox();
    ctx.kc = ctx.sb.kubeConfig();
    ctx.core = ctx.kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await ctx.sb?.stop();
  });
  beforeEach(async () => {
    ctx.ns = `${prefix}-${++n}`;
    await ctx.core.createNamespace({ body: { metadata: { name: ctx.ns } } });
  });
  return ctx;
}

/** Polls `fn` until it returns a value other than undefined/false, or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(20);
  }
}

/** Waits until `read` rejects: the object or file it reads is gone. */
export function gone(what: string, read: () => Promise<unknown>): Promise<true> {
  return waitFor(what, () =>
    read().then(
      () => false as const,
      () => true as const,
    ),
  );
}

/** A raw request to the sandbox (for APIs client-node has no typed client for, like KubeVirt's subresources). */
export async function request(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const server = kc.getCurrentCluster()!.server;
  const res = await fetch(server + path, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** A PVC manifest. */
export function pvc(
  name: string,
  size: string,
  volumeMode: 'Block' | 'Filesystem',
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      volumeMode,
      resources: { requests: { storage: size } },
      ...extra,
    },
  };
}
