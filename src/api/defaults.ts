/**
 * Default values the CRD schemas apply (the API server fills them in on create and update). Controllers
 * use the same constants when a field is absent from an object that was never admitted (tests, offline).
 */

/**
 * Default repository block size in bytes. Provisional: the mover's benchmark (`npm run bench`) decides
 * the final value for VM disks.
 */
export const DEFAULT_BLOCK_SIZE = 65536;
/** Smallest and largest allowed block sizes (both powers of two). */
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 4194304;
/** Default `spec.compression`. */
export const DEFAULT_COMPRESSION = 'zstd';
/** Default `spec.maintenance.gcSchedule`: daily at 03:00 UTC. */
export const DEFAULT_GC_SCHEDULE = '0 3 * * *';
/** Repository integrity check: weekly, Sunday 04:30 UTC, after that night's gc. */
export const DEFAULT_VERIFY_SCHEDULE = '30 4 * * 0';
/** Share of packs a scheduled verify reads and re-hashes, in percent. */
export const DEFAULT_VERIFY_READ_DATA_PERCENT = 10;
/** Default Secret key holding the repository key. */
export const DEFAULT_KEY_SECRET_KEY = 'repository-key';
/** Default filesystem repository directory inside its PVC. */
export const DEFAULT_FILESYSTEM_PATH = '/';
/** Default S3 region. */
export const DEFAULT_S3_REGION = 'us-east-1';
/** Default `schedule.timeZone`. */
export const DEFAULT_TIME_ZONE = 'UTC';
/** Default `maxParallelBackups` of a BackupPolicy. */
export const DEFAULT_MAX_PARALLEL_BACKUPS = 4;
/** Most cron expressions a schedule may list, and most runs a day (as CSBS allows). */
export const MAX_RUNS_PER_DAY = 24;
/** Longest `description` of a OneOffBackup or Backup. */
export const MAX_DESCRIPTION_LENGTH = 255;
