/** Settings shared by the reconcilers of one controller process. */
import { type JobSettings, defaultJobSettings } from './mover.js';

/** Knobs of the reconcilers; tests shorten the waits, deployments pick the image. */
export interface ControllerSettings {
  jobs: JobSettings;
  /** How often to re-read a running Job's pod logs for progress, and other polls. */
  pollMs: number;
  /** Longest time a guest stays frozen waiting for its snapshots to be cut; then it is thawed and the backup fails. */
  freezeTimeoutMs: number;
  /** How long a Backup waits for its PVCs to become Bound before failing. */
  pvcBindGraceMs: number;
  /** Longest wait for snapshots to become ready to use. */
  snapshotTimeoutMs: number;
  /** Longest wait for a VM to stop before an in-place restore fails. */
  vmStopTimeoutMs: number;
  /**
   * How long a Restore waits for its Backup to appear before failing: GitOps tools apply manifests in
   * any order, so a Restore may arrive before the Backup it names.
   */
  backupWaitMs: number;
  /**
   * How long a mover pod may sit unable to start (missing Secret, image pull error, unschedulable)
   * before its Backup or Restore fails naming the cause and lets the server go.
   */
  podStartGraceMs: number;
  /** Delay before a failed repository check is tried again. */
  repositoryRetryMs: number;
  /** VolumeSnapshotClass for backups; undefined = the cluster's default class. */
  snapshotClassName?: string;
}

/** Production defaults; `image` tracks the package version, overridable by `CSBS_MOVER_IMAGE`. */
export function defaultSettings(version: string, env: NodeJS.ProcessEnv = process.env): ControllerSettings {
  const jobs = defaultJobSettings(version);
  if (env.CSBS_MOVER_IMAGE) jobs.image = env.CSBS_MOVER_IMAGE;
  if (env.CSBS_MOVER_SERVICE_ACCOUNT) jobs.serviceAccountName = env.CSBS_MOVER_SERVICE_ACCOUNT;
  if (env.CSBS_BLOCK_DEVICE_GROUP !== undefined) {
    const gid = Number(env.CSBS_BLOCK_DEVICE_GROUP);
    if (!/^\d+$/.test(env.CSBS_BLOCK_DEVICE_GROUP) || gid > 2 ** 31 - 1)
      throw new Error(
        `CSBS_BLOCK_DEVICE_GROUP=${JSON.stringify(env.CSBS_BLOCK_DEVICE_GROUP)} is not a group id: set it to the numeric GID that owns block devices on the nodes (usually 6, disk)`,
      );
    jobs.blockDeviceGroup = gid;
  }
  return {
    jobs,
    pollMs: 2000,
    freezeTimeoutMs: 60_000,
    pvcBindGraceMs: 120_000,
    snapshotTimeoutMs: 30 * 60_000,
    vmStopTimeoutMs: 5 * 60_000,
    backupWaitMs: 10 * 60_000,
    podStartGraceMs: durationEnv(env, 'CSBS_POD_START_GRACE_SECONDS', 5 * 60_000),
    repositoryRetryMs: 60_000,
    ...(env.CSBS_SNAPSHOT_CLASS ? { snapshotClassName: env.CSBS_SNAPSHOT_CLASS } : {}),
  };
}

/** Milliseconds from an env var holding whole seconds, or the default; a bad value is an error naming it. */
function durationEnv(env: NodeJS.ProcessEnv, name: string, defaultMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return defaultMs;
  if (!/^\d+$/.test(raw))
    throw new Error(`${name}=${JSON.stringify(raw)} is not a number of seconds: set it to e.g. 300`);
  return Number(raw) * 1000;
}
