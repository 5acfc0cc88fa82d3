/** Pure status pieces of a BackupRepository: reading stats and the failure of a maintenance Job. */
import type { V1Pod } from '@kubernetes/client-node';
import { humanBytes } from '../../api/quantity.js';
import type { Backup, BackupRepository, BackupRepositoryStatus } from '../../api/types.js';
import { type MoverSummary, exitMeaning, parseResultLine } from '../shared/mover-output.js';

/** Bytes stored, from a maintenance summary line (gc reports what the repository keeps), if given. */
export function storedBytesOf(summaryLine: string | undefined): number | undefined {
  const { summary } = parseResultLine(summaryLine);
  return summary && firstNumber(summary, ['storedBytes', 'bytesStored', 'bytesKept', 'repositoryBytes']);
}

function firstNumber(s: MoverSummary, keys: string[]): number | undefined {
  for (const k of keys) {
    const v = s[k];
    if (typeof v === 'number') return v;
  }
  return undefined;
}

/**
 * Why a maintenance Job failed, from its pods' container states: the first container (init or main)
 * that exited non-zero, with the mover's error line or its last log lines.
 */
export function maintenanceFailure(pods: V1Pod[]): string | undefined {
  for (const pod of pods) {
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const cs of statuses) {
      const t = cs.state?.terminated ?? cs.lastState?.terminated;
      if (!t || t.exitCode === 0) continue;
      const { error } = parseResultLine(t.message);
      const detail = error?.message ?? (t.message ?? '').trim().split('\n').slice(-3).join(' ').slice(0, 500);
      return `mover ${cs.name} exited ${t.exitCode} (${exitMeaning(t.exitCode)})${detail ? `: ${detail}` : ''}`;
    }
  }
  return undefined;
}

/** What a verify Job found: nothing wrong, damaged manifests (exit 5), or an error of its own. */
export type VerifyOutcome =
  | { state: 'intact' }
  | { state: 'damaged'; manifests: string[]; message: string }
  | { state: 'error'; message: string };

/**
 * Reads a verify Job's result from its pods. Exit 5 is a finding, not a failure of the check: its summary
 * lists the damaged manifests (`damagedManifests`, else the uses of the first bad blocks).
 */
export function verifyResult(pods: V1Pod[], complete: boolean): VerifyOutcome {
  if (complete) return { state: 'intact' };
  for (const pod of pods)
    for (const cs of pod.status?.containerStatuses ?? []) {
      const t = cs.state?.terminated ?? cs.lastState?.terminated;
      if (t?.exitCode !== 5) continue;
      const line =
        (t.message ?? '')
          .split('\n')
          .filter((l) => l.trim())
          .pop() ?? '';
      let o: Record<string, unknown> = {};
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // a summary cut short: the manifests stay unknown, the error below still says what was found
      }
      const listed = Array.isArray(o.damagedManifests) ? o.damagedManifests.map(String) : [];
      const uses = Array.isArray(o.bad)
        ? (o.bad as { uses?: { manifest?: string }[] }[]).flatMap((b) =>
            (b.uses ?? []).map((u) => String(u.manifest)),
          )
        : [];
      const manifests = [...new Set(listed.length ? listed : uses)].filter(Boolean).sort();
      const err = o.error as { message?: string } | undefined;
      return { state: 'damaged', manifests, message: (err?.message ?? 'corrupt data found').slice(0, 500) };
    }
  return { state: 'error', message: maintenanceFailure(pods) ?? 'the verify Job failed without a result' };
}

/** Status fields of a measurement of the repository's size (check and gc Jobs measure it). */
export function measured(
  bytes: number,
): Pick<BackupRepositoryStatus, 'storedBytes' | 'stored' | 'measuredStoredBytes'> {
  return { storedBytes: bytes, stored: humanBytes(bytes), measuredStoredBytes: bytes };
}

/**
 * What the repository holds now: its last measurement plus what each backup that completed since
 * (status.lastCheckTime) uploaded. Undefined before the first measurement.
 */
export function storedSince(repo: BackupRepository, backups: Backup[]): number | undefined {
  const base = repo.status?.measuredStoredBytes;
  const at = repo.status?.lastCheckTime;
  if (base === undefined || !at) return undefined;
  let bytes = base;
  for (const b of backups) {
    if (b.spec.repositoryRef.name !== repo.metadata.name) continue;
    const done = b.status?.completionTime;
    if (!done || done <= at || !b.status?.totals) continue;
    if (b.status.phase !== 'Available' && b.status.phase !== 'Restoring') continue;
    bytes += b.status.totals.uploadedBytes ?? 0;
  }
  return bytes;
}
