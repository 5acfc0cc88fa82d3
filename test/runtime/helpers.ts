/** Shared setup of the runtime's tests against the sandbox API server (the real client, over HTTP). */
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../src/runtime/client.js';
import { defineKind, Kinds, type GenericObject, type ResourceKind } from '../../src/runtime/kinds.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

/** Starts one sandbox for a `describe` block and stops it afterwards. */
export function useSandbox(options: Parameters<typeof startSandbox>[0] = {}): {
  sb: () => Sandbox;
  client: () => KubeClient;
} {
  let sandbox: Sandbox | undefined;
  let kube: KubeClient | undefined;
  before(async () => {
    sandbox = await startSandbox(options);
    kube = new KubeClient(sandbox.kubeConfig());
  });
  after(async () => {
    await sandbox?.stop();
  });
  return {
    sb: () => sandbox as Sandbox,
    client: () => kube as KubeClient,
  };
}

/** A test-only custom kind with a status subresource and a validated spec. */
export interface Widget extends GenericObject {
  spec: { size: number; mode?: 'Fast' | 'Slow' };
  status?: { phase?: string; progress?: { percent?: number }; conditions?: unknown[] };
}

/** The Widget kind (installed by {@link installWidgetCrd}). */
export const WidgetKind: ResourceKind<Widget> = defineKind<Widget>({
  group: 'runtime.test.csbs.dev',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
});

/** Installs the Widget CRD through the API, as a user would, and waits until it is served. */
export async function installWidgetCrd(client: KubeClient): Promise<void> {
  const crd = defineKind({
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  });
  await client.create(crd, {
    metadata: { name: 'widgets.runtime.test.csbs.dev' },
    spec: {
      group: 'runtime.test.csbs.dev',
      scope: 'Namespaced',
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size'],
                  properties: {
                    size: { type: 'integer', minimum: 1 },
                    mode: { type: 'string', enum: ['Fast', 'Slow'] },
                  },
                },
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
        },
      ],
    },
  } as KubernetesObject);
  await eventually(
    async () => (await client.list(WidgetKind)).resourceVersion !== undefined,
    5000,
    'Widget CRD served',
  );
}

/** A valid Widget. */
export function widget(namespace: string, name: string, size = 1): Widget {
  return { apiVersion: WidgetKind.apiVersion, kind: 'Widget', metadata: { namespace, name }, spec: { size } };
}

/** A ConfigMap object. */
export function configMap(
  namespace: string,
  name: string,
  data: Record<string, string> = {},
  labels?: Record<string, string>,
) {
  return { metadata: { namespace, name, ...(labels ? { labels } : {}) }, data };
}

/** Polls `check` until it returns a truthy value (or fails after `timeoutMs`). */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Creates a namespace with a unique name. */
export async function namespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(16).slice(2, 8)}`;
  await client.create(Kinds.Namespace, { metadata: { name } } as KubernetesObject);
  return name;
}
