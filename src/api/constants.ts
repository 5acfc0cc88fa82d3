/**
 * Identity of the csbs.dev API: group, version, kinds, resource names. Every module that builds URLs,
 * informers, RBAC rules or CRDs reads these instead of spelling strings.
 */

/** API group of every csbs custom resource. */
export const GROUP = 'csbs.dev';
/** The one served and stored version. */
export const VERSION = 'v1alpha1';
/** `apiVersion` of every csbs object. */
export const API_VERSION = `${GROUP}/${VERSION}` as const;
/** The `kubectl get csbs` category every CRD joins. */
export const CATEGORY = 'csbs';

/** Kinds of the csbs.dev API. */
export const Kind = {
  BackupRepository: 'BackupRepository',
  BackupPolicy: 'BackupPolicy',
  ServerBinding: 'ServerBinding',
  OneOffBackup: 'OneOffBackup',
  Backup: 'Backup',
  Restore: 'Restore',
} as const;
/** One of the six csbs kinds. */
export type Kind = (typeof Kind)[keyof typeof Kind];

/** All kinds, in the order a user reads about them (and `crds/` files are written). */
export const KINDS: readonly Kind[] = [
  Kind.BackupRepository,
  Kind.BackupPolicy,
  Kind.ServerBinding,
  Kind.OneOffBackup,
  Kind.Backup,
  Kind.Restore,
];

/** How each kind is served: REST plural, singular, short names. All kinds are namespaced. */
export interface ResourceNames {
  kind: Kind;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
}

/** Resource names per kind (the CRD `spec.names`). */
export const RESOURCES: Readonly<Record<Kind, ResourceNames>> = {
  BackupRepository: names('BackupRepository', 'backuprepositories', 'backuprepository', ['brepo', 'brepos']),
  BackupPolicy: names('BackupPolicy', 'backuppolicies', 'backuppolicy', ['bpol', 'bpols']),
  ServerBinding: names('ServerBinding', 'serverbindings', 'serverbinding', ['sbind', 'sbinds']),
  OneOffBackup: names('OneOffBackup', 'oneoffbackups', 'oneoffbackup', ['oob', 'oobs']),
  Backup: names('Backup', 'backups', 'backup', ['bk', 'bks']),
  Restore: names('Restore', 'restores', 'restore', ['rst', 'rsts']),
};

/** `<plural>.csbs.dev`, the CRD's metadata.name. */
export function crdName(kind: Kind): string {
  return `${RESOURCES[kind].plural}.${GROUP}`;
}

function names(kind: Kind, plural: string, singular: string, shortNames: string[]): ResourceNames {
  return { kind, listKind: `${kind}List`, plural, singular, shortNames };
}

/** Kinds a `ServerRef` may name. */
export const ServerKind = {
  /** A KubeVirt `kubevirt.io/v1` VirtualMachine: its disks are the server's volumes. */
  VirtualMachine: 'VirtualMachine',
  /** PVCs labelled `csbs.dev/server=<name>`: a server without a VM object. */
  PVCGroup: 'PVCGroup',
} as const;
/** `VirtualMachine` or `PVCGroup`. */
export type ServerKind = (typeof ServerKind)[keyof typeof ServerKind];

/** KubeVirt's group/version, where `VirtualMachine` servers live. */
export const KUBEVIRT_API_VERSION = 'kubevirt.io/v1';
