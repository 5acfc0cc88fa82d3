/**
 * Condition types, reasons and phases of the csbs.dev kinds. Conditions have the metav1.Condition
 * shape; types and reasons are PascalCase (reasons must match `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`).
 */

/** `True`, `False` or `Unknown`, as in metav1.Condition. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition: one observation about an object. */
export interface Condition {
  /** PascalCase type, one of {@link ConditionType} for our kinds. */
  type: string;
  status: ConditionStatus;
  /** metadata.generation the condition was computed from. */
  observedGeneration?: number;
  /** RFC 3339 time `status` last changed (not when the condition was last written). */
  lastTransitionTime: string;
  /** PascalCase machine-readable reason, one of {@link Reason}. */
  reason: string;
  /** Human-readable detail: what happened and what to do about it. */
  message: string;
}

/** Condition types used across the kinds. */
export const ConditionType = {
  /** The object is usable: repository reachable/initialized, policy scheduling, backup available. */
  Ready: 'Ready',
  /** Backup: the guest was frozen for the snapshots (False with a reason = crash-consistent). */
  Quiesced: 'Quiesced',
  /** ServerBinding: a server it selects is already bound to another policy. */
  Conflict: 'Conflict',
  /** Backup: every volume has a ready VolumeSnapshot. */
  Snapshotted: 'Snapshotted',
  /** Backup: every volume's blocks are in the repository. */
  Uploaded: 'Uploaded',
  /** Restore: the server is stopped for an in-place restore. */
  ServerStopped: 'ServerStopped',
  /** Restore: every selected volume was written back. */
  Restored: 'Restored',
  /** Work is under way (Backup, Restore, OneOffBackup); False when it has ended either way. */
  Progressing: 'Progressing',
  /** The object ended in failure; reason and message say what to fix. */
  Failed: 'Failed',
  /** BackupRepository/Backup: the last integrity check found no damaged data (False: which, and the repair). */
  DataIntact: 'DataIntact',
  /** BackupPolicy/OneOffBackup/Restore: its spec references something invalid or missing. */
  Valid: 'Valid',
} as const;
/** One of the condition types above. */
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Reasons for conditions and failure messages. */
export const Reason = {
  // generic
  Succeeded: 'Succeeded',
  InProgress: 'InProgress',
  Waiting: 'Waiting',
  Failed: 'Failed',
  InvalidSpec: 'InvalidSpec',
  // references
  RepositoryNotFound: 'RepositoryNotFound',
  RepositoryNotReady: 'RepositoryNotReady',
  RepositoryUnreachable: 'RepositoryUnreachable',
  RepositoryInitialized: 'RepositoryInitialized',
  SecretNotFound: 'SecretNotFound',
  WrongKey: 'WrongKey',
  PolicyNotFound: 'PolicyNotFound',
  BackupNotFound: 'BackupNotFound',
  BackupNotAvailable: 'BackupNotAvailable',
  ServerNotFound: 'ServerNotFound',
  NoVolumes: 'NoVolumes',
  PVCNotBound: 'PVCNotBound',
  VolumeNotInBackup: 'VolumeNotInBackup',
  // policy / binding
  InvalidSchedule: 'InvalidSchedule',
  InvalidTimeZone: 'InvalidTimeZone',
  Scheduled: 'Scheduled',
  Disabled: 'Disabled',
  Bound: 'Bound',
  AlreadyBound: 'AlreadyBound',
  NoConflict: 'NoConflict',
  // backup
  Frozen: 'Frozen',
  GuestAgentUnavailable: 'GuestAgentUnavailable',
  FreezeFailed: 'FreezeFailed',
  ServerNotRunning: 'ServerNotRunning',
  SnapshotFailed: 'SnapshotFailed',
  SnapshotsReady: 'SnapshotsReady',
  UploadFailed: 'UploadFailed',
  JobFailed: 'JobFailed',
  DeadlineExceeded: 'DeadlineExceeded',
  ServerBusy: 'ServerBusy',
  ParentMissing: 'ParentMissing',
  // restore
  StopTimeout: 'StopTimeout',
  RestoreFailed: 'RestoreFailed',
  CorruptData: 'CorruptData',
  TargetTooSmall: 'TargetTooSmall',
  TargetUnwritable: 'TargetUnwritable',
  StorageFailure: 'StorageFailure',
  /** Restore: a NewPVCs target PVC exists already and was not created by this restore. */
  TargetExists: 'TargetExists',
  /** Restore: the VirtualMachine was started (or its spec changed) while its disks were written. */
  ServerStartedDuringRestore: 'ServerStartedDuringRestore',
  // pods
  /** A mover pod cannot start (missing Secret, image pull, unschedulable) within the grace time. */
  PodCannotStart: 'PodCannotStart',
} as const;
/** One of the reasons above. */
export type Reason = (typeof Reason)[keyof typeof Reason];

/** BackupRepository.status.phase. */
export const RepositoryPhase = { Pending: 'Pending', Ready: 'Ready', Failed: 'Failed' } as const;
export type RepositoryPhase = (typeof RepositoryPhase)[keyof typeof RepositoryPhase];

/** Backup.status.phase (Available and Failed are final until Deleting/Restoring). */
export const BackupPhase = {
  Pending: 'Pending',
  Snapshotting: 'Snapshotting',
  Uploading: 'Uploading',
  Available: 'Available',
  Failed: 'Failed',
  Deleting: 'Deleting',
  Restoring: 'Restoring',
} as const;
export type BackupPhase = (typeof BackupPhase)[keyof typeof BackupPhase];

/** Backup.status.type. */
export const BackupType = { Full: 'Full', Incremental: 'Incremental' } as const;
export type BackupType = (typeof BackupType)[keyof typeof BackupType];

/** Backup.status.consistency. */
export const Consistency = {
  /** The guest's filesystems were frozen while the snapshots were taken. */
  ApplicationConsistent: 'ApplicationConsistent',
  /** Taken without freezing (no guest agent, VM stopped or paused, PVC group): like a power cut. */
  CrashConsistent: 'CrashConsistent',
} as const;
export type Consistency = (typeof Consistency)[keyof typeof Consistency];

/** Backup.spec.origin. */
export const BackupOrigin = { OneOff: 'OneOff', Policy: 'Policy' } as const;
export type BackupOrigin = (typeof BackupOrigin)[keyof typeof BackupOrigin];

/** OneOffBackup.status.phase. */
export const OneOffBackupPhase = {
  Pending: 'Pending',
  InProgress: 'InProgress',
  Completed: 'Completed',
  PartiallyFailed: 'PartiallyFailed',
  Failed: 'Failed',
} as const;
export type OneOffBackupPhase = (typeof OneOffBackupPhase)[keyof typeof OneOffBackupPhase];

/** Restore.status.phase. */
export const RestorePhase = {
  Pending: 'Pending',
  StoppingServer: 'StoppingServer',
  Restoring: 'Restoring',
  StartingServer: 'StartingServer',
  Completed: 'Completed',
  Failed: 'Failed',
} as const;
export type RestorePhase = (typeof RestorePhase)[keyof typeof RestorePhase];

/** Restore.spec.target.mode. */
export const RestoreMode = { InPlace: 'InPlace', NewPVCs: 'NewPVCs' } as const;
export type RestoreMode = (typeof RestoreMode)[keyof typeof RestoreMode];

/** BackupPolicy.status.lastRunResult. */
export const RunResult = {
  Succeeded: 'Succeeded',
  PartiallyFailed: 'PartiallyFailed',
  Failed: 'Failed',
  Skipped: 'Skipped',
} as const;
export type RunResult = (typeof RunResult)[keyof typeof RunResult];

/** Repository compression algorithm (spec.compression). */
export const Compression = { zstd: 'zstd', lz4: 'lz4', none: 'none' } as const;
export type Compression = (typeof Compression)[keyof typeof Compression];
