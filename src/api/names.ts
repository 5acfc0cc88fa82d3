/**
 * Backup display names (`manualbk_xxxx`, `autobk_xxxx`, as CSBS names them) and their DNS-1123 object
 * names. The display name lives in `Backup.spec.backupName`; `metadata.name` is its hyphenated form.
 */
import { randomBytes } from 'node:crypto';

/** Display-name prefix of backups a OneOffBackup (or a user) asked for. */
export const MANUAL_PREFIX = 'manualbk_';
/** Display-name prefix of backups a BackupPolicy's schedule made. */
export const AUTO_PREFIX = 'autobk_';
/** One of the two prefixes. */
export type BackupNamePrefix = typeof MANUAL_PREFIX | typeof AUTO_PREFIX;

/**
 * Longest backup display name, suffix included. The object name (same length) is used as a label
 * value (63 max) and Job/VolumeSnapshot names add up to 10 characters to it.
 */
export const MAX_BACKUP_NAME_LENGTH = 53;

/**
 * A valid display name: the prefix, then lowercase letters, digits, `_` and `-`, ending in a letter
 * or digit (so the object name is DNS-1123). Used by the CRD schemas as well.
 */
export const BACKUP_NAME_PATTERN = '^(manualbk|autobk)_[a-z0-9]([a-z0-9_-]*[a-z0-9])?$';

/**
 * `prefix` + 4 random lowercase hex characters, e.g. `manualbk_1a2b`. Callers retry with a new name
 * when the object already exists. `random` is injectable for tests.
 */
export function generateBackupName(
  prefix: BackupNamePrefix,
  random: (size: number) => Uint8Array = randomBytes,
): string {
  const bytes = random(2);
  const hex = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${prefix}${hex}`;
}

/**
 * Display name of the backup of the `index`-th (0-based) of `count` servers of one request: the base
 * name alone for a single server, else `<base>-0001`, `<base>-0002`... as CSBS numbers them.
 */
export function backupNameForServer(base: string, index: number, count: number): string {
  if (count <= 1) return base;
  return `${base}-${String(index + 1).padStart(4, '0')}`;
}

/** DNS-1123 object name of a backup display name: `manualbk_1a2b-0001` -> `manualbk-1a2b-0001`. */
export function backupObjectName(backupName: string): string {
  return backupName.toLowerCase().replace(/_/g, '-');
}

/** Whether `name` is a valid backup display name (optionally with the given prefix). */
export function isBackupName(name: string, prefix?: BackupNamePrefix): boolean {
  return (
    new RegExp(BACKUP_NAME_PATTERN).test(name) &&
    name.length <= MAX_BACKUP_NAME_LENGTH &&
    (prefix === undefined || name.startsWith(prefix))
  );
}
