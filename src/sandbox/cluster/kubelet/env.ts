/**
 * A container's environment as the kubelet builds it: `envFrom`, then `env` (later wins), values from
 * Secrets, ConfigMaps and the pod's own fields, and `$(VAR)` references expanded in env values, command
 * and args.
 */
import type { ConfigMap, Container, Pod, Secret } from '../objects.js';

/** Looks up Secrets and ConfigMaps of the pod's namespace (`undefined` when missing). */
export interface EnvSources {
  secret(name: string): Promise<Secret | undefined>;
  configMap(name: string): Promise<ConfigMap | undefined>;
}

/** A reason the container cannot be configured (the kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {}

function fieldValue(pod: Pod, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? 'sandbox';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.podIP':
    case 'status.hostIPs':
    case 'status.podIPs':
      return '127.0.0.1';
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath "${path}"`);
  }
}

function decode(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** Expands `$(NAME)` from `vars`; `$$(NAME)` escapes; unknown references stay as written. */
export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : m;
  });
}

/**
 * The container's env. Throws {@link ContainerConfigError} with the kubelet's message when a referenced
 * Secret, ConfigMap or key is missing and not optional.
 */
export async function containerEnv(
  pod: Pod,
  c: Container,
  src: EnvSources,
  base: Record<string, string>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...base };
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const s = await src.secret(from.secretRef.name);
      if (!s && !from.secretRef.optional)
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      for (const [k, v] of Object.entries(s?.data ?? {})) env[prefix + k] = decode(v);
    }
    if (from.configMapRef) {
      const cm = await src.configMap(from.configMapRef.name);
      if (!cm && !from.configMapRef.optional)
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env[prefix + k] = v;
    }
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = expandVars(e.value ?? '', env);
    } else if (vf.secretKeyRef) {
      const ref = vf.secretKeyRef;
      const s = await src.secret(ref.name);
      if (!s) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`secret "${ref.name}" not found`);
      }
      const v = s.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          `couldn't find key ${ref.key} in Secret ${pod.metadata.namespace}/${ref.name}`,
        );
      }
      env[e.name] = decode(v);
    } else if (vf.configMapKeyRef) {
      const ref = vf.configMapKeyRef;
      const cm = await src.configMap(ref.name);
      if (!cm) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`configmap "${ref.name}" not found`);
      }
      const v = cm.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          `couldn't find key ${ref.key} in ConfigMap ${pod.metadata.namespace}/${ref.name}`,
        );
      }
      env[e.name] = v;
    } else if (vf.fieldRef) {
      env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath);
    } else if (vf.resourceFieldRef) {
      env[e.name] = '0'; // no resource accounting in the sandbox
    }
  }
  return env;
}
