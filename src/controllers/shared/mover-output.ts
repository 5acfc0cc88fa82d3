/**
 * Reading what mover containers report: JSON-lines progress from the pod log, and the one-line result
 * (summary or error) each container leaves as its termination message. Pure and forgiving: a line
 * that is not ours is skipped, never fatal.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** A progress line of `csbs mover backup|restore`. */
export interface MoverProgress {
  phase?: string;
  bytesDone: number;
  bytesTotal: number;
}

/** The summary line of a successful mover command (fields this controller uses). */
export interface MoverSummary {
  manifest?: string;
  type?: string;
  /** Logical size of the volume. */
  sizeBytes?: number;
  bytesRead?: number;
  /** Bytes of blocks that were not yet in the repository, before compression. */
  bytesChanged?: number;
  /** Bytes written to the repository (after compression and encryption). */
  bytesNew?: number;
  bytesWritten?: number;
  seconds?: number;
  [key: string]: unknown;
}

/** The error line of a failed mover command. */
export interface MoverError {
  code: string;
  message: string;
  exitCode?: number;
}

/** What one container ended with. */
export type ContainerOutcome =
  | { state: 'running' }
  | { state: 'succeeded'; summary: MoverSummary }
  | { state: 'failed'; exitCode: number; error: MoverError };

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function parseObject(line: string): Record<string, unknown> | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The last progress line in a log, if any. */
export function lastProgress(log: string): MoverProgress | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const o = parseObject(lines[i]);
    if (!o) continue;
    const done = num(o.bytesDone);
    const total = num(o.bytesTotal);
    if (done !== undefined && total !== undefined)
      return {
        bytesDone: done,
        bytesTotal: total,
        ...(typeof o.phase === 'string' ? { phase: o.phase } : {}),
      };
  }
  return undefined;
}

/** Parses a termination message: a summary (`{manifest,...}`) or an error (`{error:{code,message},exitCode}`). */
export function parseResultLine(message: string | undefined): { summary?: MoverSummary; error?: MoverError } {
  const lines = (message ?? '').split('\n').filter((l) => l.trim());
  const o = lines.length ? parseObject(lines[lines.length - 1]) : undefined;
  if (!o) return {};
  const err = o.error;
  if (err && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    return {
      error: {
        code: typeof e.code === 'string' ? e.code : 'Error',
        message: typeof e.message === 'string' ? e.message : JSON.stringify(err),
        ...(num(o.exitCode) !== undefined ? { exitCode: num(o.exitCode) } : {}),
      },
    };
  }
  return { summary: o as MoverSummary };
}

/** Meaning of each mover exit code (docs/design.md), for messages when a container left no result. */
const EXIT_MEANING: Record<number, string> = {
  1: 'unexpected error',
  2: 'usage error',
  3: 'wrong repository key',
  4: 'not found (repository, manifest or parent)',
  5: 'corrupt data found',
  6: 'target too small or not writable, or source unreadable',
  7: 'storage failure after retries',
  137: 'killed (SIGKILL, e.g. out of memory)',
  143: 'terminated (SIGTERM)',
};

/** A readable phrase for a mover exit code. */
export function exitMeaning(code: number): string {
  return EXIT_MEANING[code] ?? `exit code ${code}`;
}

/** What a container status says about the mover it ran. */
export function containerOutcome(status: V1ContainerStatus | undefined): ContainerOutcome {
  const t = status?.state?.terminated;
  if (!t) return { state: 'running' };
  const parsed = parseResultLine(t.message);
  if (t.exitCode === 0 && parsed.summary) return { state: 'succeeded', summary: parsed.summary };
  const exitCode = t.exitCode === 0 ? 1 : t.exitCode;
  const error = parsed.error ?? {
    code: t.reason ?? 'Error',
    message:
      t.exitCode === 0
        ? 'exited 0 without a result line'
        : `${exitMeaning(exitCode)} (${t.reason ?? 'no message'})`,
    exitCode,
  };
  return { state: 'failed', exitCode, error };
}

/** The newest pod of a Job (by creation time, then name), whose containers carry the latest attempt. */
export function newestPod(pods: V1Pod[]): V1Pod | undefined {
  return [...pods].sort((a, b) => {
    const ta = new Date(a.metadata?.creationTimestamp ?? 0).getTime();
    const tb = new Date(b.metadata?.creationTimestamp ?? 0).getTime();
    return ta - tb || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
  })[pods.length - 1];
}

/**
 * Per container name, the best outcome across a Job's pods: a success in any attempt wins (its manifest
 * exists in the repository), else the newest pod's state.
 */
export function outcomesByContainer(pods: V1Pod[]): Map<string, ContainerOutcome> {
  const out = new Map<string, ContainerOutcome>();
  const newest = newestPod(pods);
  for (const pod of pods) {
    for (const cs of pod.status?.containerStatuses ?? []) {
      const o = containerOutcome(cs);
      const prev = out.get(cs.name);
      if (o.state === 'succeeded') out.set(cs.name, o);
      else if (prev?.state !== 'succeeded' && (pod === newest || !prev)) out.set(cs.name, o);
    }
  }
  return out;
}
