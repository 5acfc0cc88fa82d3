/**
 * TypeScript types of the six csbs.dev/v1alpha1 kinds, the contract controllers code against. The CRD
 * schemas must match them field for field (checked by the tests). Fields with a schema default are
 * optional here, because clients may omit them; objects read back from the API server carry them.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type {
  BackupOrigin,
  BackupPhase,
  BackupType,
  Compression,
  Condition,
  Consistency,
  OneOffBackupPhase,
  RepositoryPhase,
  RestoreMode,
  RestorePhase,
  RunResult,
} from './conditions.js';
import type { ServerKind } from './constants.js';

/** Object metadata, as @kubernetes/client-node types it. */
export type ObjectMeta = V1ObjectMeta;

/** Common envelope of every csbs object. */
export interface CsbsObject<K extends string, Spec, Status> {
  apiVersion: 'csbs.dev/v1alpha1';
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** A reference by name to an object in the same namespace. */
export interface LocalObjectReference {
  /** Name of the referenced object, in the referrer's namespace. */
  name: string;
}

/**
 * A server to protect, in the referrer's namespace. Resolution (see `servers.ts`):
 * - `VirtualMachine`: a KubeVirt `kubevirt.io/v1` VirtualMachine; its volumes are the
 *   `persistentVolumeClaim.claimName` and `dataVolume.name` entries of `spec.template.spec.volumes`
 *   (a DataVolume's PVC has the DataVolume's name), in that order.
 * - `PVCGroup`: every PVC labelled `csbs.dev/server=<name>`, ordered by PVC name.
 */
export interface ServerRef {
  kind: ServerKind;
  name: string;
}

/** Kubernetes label selector (metav1.LabelSelector). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** One requirement of a label selector. */
export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** A key of a Secret in the referrer's namespace. */
export interface SecretKeyRef {
  /** Secret name. */
  name: string;
  /** Key inside the Secret's data. Default `repository-key`. */
  key?: string;
}

// ---------------------------------------------------------------- BackupRepository

/** A PVC holding a filesystem repository. */
export interface PersistentVolumeClaimRef {
  claimName: string;
}

/** Repository in a directory of a PVC (mounted at /repository in mover Jobs). */
export interface FilesystemBackend {
  persistentVolumeClaim: PersistentVolumeClaimRef;
  /** Directory inside the volume, absolute, default `/`. */
  path?: string;
}

/** Repository in an S3-compatible bucket. */
export interface S3Backend {
  /** `https://...` or `http://...` URL of the S3 endpoint. */
  endpoint: string;
  bucket: string;
  /** Key prefix inside the bucket, default "" (bucket root). */
  prefix?: string;
  /** Region, default `us-east-1`. */
  region?: string;
  /** Path-style URLs (MinIO, Ceph), default false. */
  forcePathStyle?: boolean;
  /** Secret with keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. */
  credentialsSecretRef: LocalObjectReference;
}

/** Exactly one of the backends. */
export interface RepositoryBackend {
  filesystem?: FilesystemBackend;
  s3?: S3Backend;
}

/** Encryption of the repository: the key never leaves its Secret except into mover Jobs. */
export interface RepositoryEncryption {
  keySecretRef: SecretKeyRef;
}

/** Schedules of repository maintenance. */
export interface RepositoryMaintenance {
  /** Cron expression (UTC) for `csbs mover gc`, default `0 3 * * *`. */
  gcSchedule?: string;
  /** Cron expression (UTC) for `csbs mover verify --read-data`, default weekly `30 4 * * 0`. */
  verifySchedule?: string;
  /** Percent of packs each scheduled verify reads (1..100, default 10). */
  verifyReadDataPercent?: number;
}

export interface BackupRepositorySpec {
  backend: RepositoryBackend;
  encryption: RepositoryEncryption;
  /** Block size in bytes: a power of two, 4096..4194304, immutable. Default {@link DEFAULT_BLOCK_SIZE}. */
  blockSize?: number;
  /** Default `zstd`. */
  compression?: Compression;
  /** Default `{}` (so gc runs daily). */
  maintenance?: RepositoryMaintenance;
}

export interface BackupRepositoryStatus {
  phase?: RepositoryPhase;
  observedGeneration?: number;
  conditions?: Condition[];
  /** Bytes the repository occupies in its storage (packs + indexes). */
  storedBytes?: number;
  /** `storedBytes` for people (`kubectl get` shows it). */
  stored?: string;
  /** `storedBytes` as last measured; `storedBytes` adds what backups uploaded since. */
  measuredStoredBytes?: number;
  /** Number of Backups whose manifests are in the repository. */
  backupCount?: number;
  /** RFC 3339 time of the last successful reachability/integrity check. */
  lastCheckTime?: string;
  /** RFC 3339 time of the last completed garbage collection. */
  lastGCTime?: string;
  /** RFC 3339 time of the last completed integrity check. */
  lastVerifyTime?: string;
  /** Manifests the last check found damaged (Backups using them show DataIntact=False). */
  damagedManifests?: string[];
  message?: string;
}

export type BackupRepository = CsbsObject<'BackupRepository', BackupRepositorySpec, BackupRepositoryStatus>;

// ---------------------------------------------------------------- BackupPolicy

export interface BackupSchedule {
  /** 1..24 five-field cron expressions; their union fires at most 24 times a day. */
  cron: string[];
  /** IANA time zone the expressions are read in, default `UTC`. */
  timeZone?: string;
  /** Each run starts a random 0..jitterSeconds later, to spread load. */
  jitterSeconds?: number;
}

/**
 * Which of the policy's own `autobk_` backups to keep, per server. `maxCount` and `maxAgeDays` are
 * exclusive; neither keeps everything. The long-term counts are a union with the main rule.
 */
export interface Retention {
  maxCount?: number;
  maxAgeDays?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface BackupPolicySpec {
  /** Default true. A disabled policy starts no new run; running backups finish. */
  enabled?: boolean;
  repositoryRef: LocalObjectReference;
  schedule: BackupSchedule;
  retention?: Retention;
  /** Force a Full backup every N runs per server; 0 (default) = only the first is full. */
  fullBackupEvery?: number;
  /** A run not started within this many seconds of its time is skipped. */
  startingDeadlineSeconds?: number;
  /** Backups of this policy running at once, default 4. */
  maxParallelBackups?: number;
}

export interface BackupPolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Servers bound to this policy through ServerBindings. */
  boundServers?: ServerRef[];
  lastRunTime?: string;
  nextRunTime?: string;
  lastRunResult?: RunResult;
  /** Runs started so far (drives fullBackupEvery). */
  runCount?: number;
}

export type BackupPolicy = CsbsObject<'BackupPolicy', BackupPolicySpec, BackupPolicyStatus>;

// ---------------------------------------------------------------- ServerBinding

export interface ServerBindingSpec {
  policyRef: LocalObjectReference;
  /** Explicit servers; with `selector`, the union. */
  servers?: ServerRef[];
  /**
   * Selects VirtualMachines by their labels, and PVCGroups whose PVCs (those labelled
   * `csbs.dev/server`) match.
   */
  selector?: LabelSelector;
}

/** A server the binding selects that another policy already owns. */
export interface ServerConflict {
  server: ServerRef;
  /** The ServerBinding that bound it first. */
  boundBy: string;
  /** That binding's policy. */
  policy: string;
}

export interface ServerBindingStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Servers resolved from servers + selector and bound to the policy (conflicts excluded). */
  servers?: ServerRef[];
  conflicts?: ServerConflict[];
}

export type ServerBinding = CsbsObject<'ServerBinding', ServerBindingSpec, ServerBindingStatus>;

// ---------------------------------------------------------------- OneOffBackup

export interface OneOffBackupSpec {
  /** Exactly one of server, servers, selector. */
  server?: ServerRef;
  servers?: ServerRef[];
  selector?: LabelSelector;
  /** `manualbk_...` display name; generated when omitted; `-0001`.. suffixes for several servers. */
  backupName?: string;
  /** At most 255 characters. */
  description?: string;
  /** Repository to use; default: the server's policy repository, else the namespace's only one. */
  repositoryRef?: LocalObjectReference;
  /** Make a Full backup even if a parent exists, default false. */
  forceFull?: boolean;
}

/** One Backup a OneOffBackup produced. */
export interface OneOffBackupResult {
  server: ServerRef;
  /** `manualbk_...` display name. */
  backupName: string;
  /** The Backup object's name. */
  name: string;
  phase?: BackupPhase;
}

export interface OneOffBackupStatus {
  phase?: OneOffBackupPhase;
  observedGeneration?: number;
  conditions?: Condition[];
  backups?: OneOffBackupResult[];
  startTime?: string;
  completionTime?: string;
  message?: string;
}

export type OneOffBackup = CsbsObject<'OneOffBackup', OneOffBackupSpec, OneOffBackupStatus>;

// ---------------------------------------------------------------- Backup

export interface BackupSpec {
  /** `manualbk_xxxx` (origin OneOff) or `autobk_xxxx` (origin Policy). */
  backupName: string;
  server: ServerRef;
  origin: BackupOrigin;
  /** Set iff origin is Policy. */
  policyRef?: LocalObjectReference;
  /** The OneOffBackup that asked for it, if any (origin OneOff). */
  oneOffBackupRef?: LocalObjectReference;
  repositoryRef: LocalObjectReference;
  description?: string;
  /** Full even if a parent exists, default false. */
  forceFull?: boolean;
}

/** Result for one volume of the server. */
export interface VolumeBackupStatus {
  /** Volume name in the VM (or the PVC name for a PVCGroup). */
  name: string;
  /** Source PVC name. */
  pvc: string;
  /** `Block` or `Filesystem`, as the source PVC. */
  volumeMode?: 'Block' | 'Filesystem';
  storageClassName?: string;
  accessModes?: string[];
  /** Logical size of the disk in bytes. */
  sizeBytes?: number;
  /** Bytes that differ from the parent (all bytes for a Full). */
  changedBytes?: number;
  /** Bytes written to the repository after dedup and compression. */
  uploadedBytes?: number;
  /** Repository manifest id of this volume's snapshot. */
  manifestID?: string;
  /** VolumeSnapshot taken for it (deleted once uploaded). */
  snapshotName?: string;
  message?: string;
}

/** Sums over the volumes. */
export interface BackupTotals {
  sizeBytes?: number;
  changedBytes?: number;
  uploadedBytes?: number;
  /** `sizeBytes` for people (`kubectl get` shows it): `20Gi`, `1.5Gi`. */
  size?: string;
  /** `uploadedBytes` for people. */
  uploaded?: string;
}

/** Upload progress while Uploading. */
export interface Progress {
  percent?: number;
  bytesDone?: number;
  bytesTotal?: number;
}

export interface BackupStatus {
  phase?: BackupPhase;
  observedGeneration?: number;
  type?: BackupType;
  consistency?: Consistency;
  /** Object name of the parent Backup an Incremental was taken against. */
  parentBackup?: string;
  volumes?: VolumeBackupStatus[];
  totals?: BackupTotals;
  startTime?: string;
  completionTime?: string;
  /** When retention will delete it (policy backups with maxAgeDays). */
  expiresAt?: string;
  progress?: Progress;
  conditions?: Condition[];
  message?: string;
}

export type Backup = CsbsObject<'Backup', BackupSpec, BackupStatus>;

// ---------------------------------------------------------------- Restore

export interface RestoreTarget {
  /** `InPlace` (default): the backup's own server; `NewPVCs`: new PVCs named `<pvcNamePrefix><volume>`. */
  mode?: RestoreMode;
  /** Required for NewPVCs. */
  pvcNamePrefix?: string;
  /** StorageClass of new PVCs; default the backed-up PVC's class. */
  storageClassName?: string;
}

export interface RestoreSpec {
  backupRef: LocalObjectReference;
  /** Default `{mode: InPlace}`. */
  target?: RestoreTarget;
  /** Names of volumes (Backup status.volumes[].name) to restore; default all. */
  volumes?: string[];
  /** Start the VM after an in-place restore, default true. */
  powerOnAfterRestore?: boolean;
}

/** Result for one restored volume. */
export interface VolumeRestoreStatus {
  name: string;
  /** PVC written. */
  pvc: string;
  /** Bytes written to the target (only changed blocks when in place). */
  restoredBytes?: number;
  message?: string;
}

export interface RestoreStatus {
  phase?: RestorePhase;
  observedGeneration?: number;
  progress?: Progress;
  volumes?: VolumeRestoreStatus[];
  startTime?: string;
  completionTime?: string;
  conditions?: Condition[];
  message?: string;
}

export type Restore = CsbsObject<'Restore', RestoreSpec, RestoreStatus>;

/** Any csbs object. */
export type AnyCsbsObject = BackupRepository | BackupPolicy | ServerBinding | OneOffBackup | Backup | Restore;
