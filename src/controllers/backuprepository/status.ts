/** Pure status pieces of a BackupRepository: reading stats and the failure of a maintenance Job. */
import type { V1Pod } from '@kubernetes/client-node';
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
