/** Pure status of a OneOffBackup from the Backups it produced. */
import { BackupPhase, OneOffBackupPhase } from '../../api/conditions.js';
import type { OneOffBackupResult } from '../../api/types.js';

/** Overall phase: InProgress until every Backup ends; Completed, Failed or PartiallyFailed after. */
export function overallPhase(results: OneOffBackupResult[]): OneOffBackupPhase {
  if (results.length === 0) return OneOffBackupPhase.Pending;
  const done = (p?: string) =>
    p === BackupPhase.Available || p === BackupPhase.Failed || p === BackupPhase.Restoring;
  if (!results.every((r) => done(r.phase))) return OneOffBackupPhase.InProgress;
  const failed = results.filter((r) => r.phase === BackupPhase.Failed).length;
  if (failed === 0) return OneOffBackupPhase.Completed;
  return failed === results.length ? OneOffBackupPhase.Failed : OneOffBackupPhase.PartiallyFailed;
}

/** A one-line summary naming the failed backups, so the request itself says what went wrong. */
export function summary(results: OneOffBackupResult[], failures: Map<string, string>): string {
  const phase = overallPhase(results);
  if (phase === OneOffBackupPhase.InProgress) {
    const done = results.filter((r) => r.phase === BackupPhase.Available).length;
    return `${done}/${results.length} backup(s) available`;
  }
  const failed = results.filter((r) => r.phase === BackupPhase.Failed);
  if (!failed.length)
    return `${results.length} backup(s) available: ${results.map((r) => r.backupName).join(', ')}`;
  return failed
    .map(
      (r) =>
        `${r.backupName} (${r.server.kind} ${r.server.name}) failed: ${failures.get(r.name) ?? 'see the Backup'}`,
    )
    .join('; ');
}
