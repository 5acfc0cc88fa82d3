/**
 * Pure builders for a BackupRepository: the Job that initializes it if missing and reads its stats
 * (which is how the controller learns the repository is reachable and the key is right), the scheduled
 * garbage-collection Job, and the slot arithmetic that names each gc run after its scheduled time, so a
 * restarted controller never runs the same slot twice.
 */
import type { V1ConfigMap, V1Job, V1OwnerReference } from '@kubernetes/client-node';
import { CronExpressionParser } from 'cron-parser';
import { API_VERSION } from '../../api/constants.js';
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_COMPRESSION,
  DEFAULT_GC_SCHEDULE,
  DEFAULT_VERIFY_READ_DATA_PERCENT,
} from '../../api/defaults.js';
import { LABEL_MANAGED_BY, LABEL_REPOSITORY_JOB, MANAGED_BY } from '../../api/labels.js';
import type { BackupRepository } from '../../api/types.js';
import {
  type JobSettings,
  TERMINATION_MESSAGE_PATH,
  type RepositoryAccess,
  moverContainer,
  moverJob,
  repositoryArgs,
  repositoryVolumes,
} from '../shared/mover.js';
import { childName, labelValue } from '../shared/names.js';

/** Labels of a repository's maintenance Jobs. */
export function repositoryJobLabels(repo: string): Record<string, string> {
  return { [LABEL_REPOSITORY_JOB]: labelValue(repo) };
}

/** Name of the init+stats Job for a generation of the repository's spec. */
export function checkJobName(repo: string, generation: number): string {
  return childName(repo, `check-g${generation}`);
}

/** Name of the gc Job of one scheduled slot. */
export function gcJobName(repo: string, slot: Date): string {
  return childName(repo, `gc-${slotStamp(slot)}`);
}

/** `YYYYMMDDhhmm` (UTC) of a slot. */
export function slotStamp(t: Date): string {
  return t.toISOString().slice(0, 16).replace(/[-T:]/g, '');
}

/** Name of the single container of each maintenance Job. */
export const CHECK_CONTAINER = 'init';
export const GC_CONTAINER = 'gc';

/** `mover init --if-missing`: creates the repository, or proves the key opens the existing one. */
export function checkJob(repo: BackupRepository, access: RepositoryAccess, settings: JobSettings): V1Job {
  const name = repo.metadata.name ?? '';
  const init = moverContainer(
    CHECK_CONTAINER,
    [
      'csbs',
      'mover',
      'init',
      ...repositoryArgs(access),
      '--block-size',
      String(repo.spec.blockSize ?? DEFAULT_BLOCK_SIZE),
      '--compression',
      repo.spec.compression ?? DEFAULT_COMPRESSION,
      '--if-missing',
      '--summary-file',
      TERMINATION_MESSAGE_PATH,
    ],
    access,
    settings,
  );
  init.terminationMessagePolicy = 'FallbackToLogsOnError';
  const job = moverJob({
    name: checkJobName(name, repo.metadata.generation ?? 1),
    namespace: repo.metadata.namespace ?? '',
    labels: repositoryJobLabels(name),
    containers: [init],
    volumes: repositoryVolumes(access),
    blockDevices: false,
    settings: { ...settings, backoffLimit: Math.min(settings.backoffLimit, 1), activeDeadlineSeconds: 600 },
  });
  return ownedByRepository(job, repo);
}

/** Name of the ConfigMap listing the manifests Backups still reference, read by the gc Job. */
export function liveManifestsName(repo: string): string {
  return childName(repo, 'gc-live');
}

/** Key of the live-manifest list in its ConfigMap, and where the gc Job finds it. */
const LIVE_KEY = 'live-manifests';
const LIVE_DIR = '/etc/csbs/gc';

/** Manifests younger than this are never dropped as orphans: their Backup may be writing its status. */
export const ORPHAN_GRACE = '24h';

/** Largest list kept in a ConfigMap (1 MiB limit, ~20 bytes an id); above it gc keeps every manifest. */
const MAX_LIVE_BYTES = 900_000;

/**
 * The ConfigMap holding every manifest a Backup references (any namespace: two repositories may share
 * storage), or undefined when the list would not fit. A manifest no Backup references (a retried
 * upload's first attempt, a delete that never ran) is then dropped by gc after {@link ORPHAN_GRACE}.
 */
export function liveManifests(repo: BackupRepository, manifests: string[]): V1ConfigMap | undefined {
  const list = [...new Set(manifests)].filter(Boolean).sort();
  const text = list.length ? `${list.join('\n')}\n` : '[]\n';
  if (text.length > MAX_LIVE_BYTES) return undefined;
  const name = repo.metadata.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: liveManifestsName(name),
      namespace: repo.metadata.namespace ?? '',
      labels: { ...repositoryJobLabels(name), [LABEL_MANAGED_BY]: MANAGED_BY },
      ownerReferences: [repositoryOwner(repo)],
    },
    data: { [LIVE_KEY]: text },
  };
}

/**
 * `mover gc`: reclaims blocks no manifest references (safe alongside running backups); with `live`, it
 * first drops manifests no Backup references that are older than {@link ORPHAN_GRACE}.
 */
export function gcJob(
  repo: BackupRepository,
  access: RepositoryAccess,
  settings: JobSettings,
  slot: Date,
  live?: V1ConfigMap,
): V1Job {
  const name = repo.metadata.name ?? '';
  const gc = moverContainer(
    GC_CONTAINER,
    [
      'csbs',
      'mover',
      'gc',
      ...repositoryArgs(access),
      ...(live ? ['--live-manifests', `${LIVE_DIR}/${LIVE_KEY}`, '--orphan-grace', ORPHAN_GRACE] : []),
      '--summary-file',
      TERMINATION_MESSAGE_PATH,
    ],
    access,
    settings,
  );
  gc.terminationMessagePolicy = 'FallbackToLogsOnError';
  if (live)
    gc.volumeMounts = [...(gc.volumeMounts ?? []), { name: 'live', mountPath: LIVE_DIR, readOnly: true }];
  const job = moverJob({
    name: gcJobName(name, slot),
    namespace: repo.metadata.namespace ?? '',
    labels: repositoryJobLabels(name),
    containers: [gc],
    volumes: [
      ...repositoryVolumes(access),
      ...(live ? [{ name: 'live', configMap: { name: live.metadata?.name ?? '' } }] : []),
    ],
    blockDevices: false,
    settings,
  });
  return ownedByRepository(job, repo);
}

/** Name of the verify Job of one `maintenance.verifySchedule` slot. */
export function verifyJobName(repo: string, slot: Date): string {
  return childName(repo, `verify-${slotStamp(slot)}`);
}

/**
 * `mover verify --read-data=<fraction>`: reads, decrypts and re-hashes a random sample of packs, and
 * records damaged blocks in the repository so the next backup writes them again.
 */
export function verifyJob(
  repo: BackupRepository,
  access: RepositoryAccess,
  settings: JobSettings,
  slot: Date,
): V1Job {
  const name = repo.metadata.name ?? '';
  const percent = repo.spec.maintenance?.verifyReadDataPercent ?? DEFAULT_VERIFY_READ_DATA_PERCENT;
  const verify = moverContainer(
    VERIFY_CONTAINER,
    [
      'csbs',
      'mover',
      'verify',
      ...repositoryArgs(access),
      `--read-data=${percent / 100}`,
      '--summary-file',
      TERMINATION_MESSAGE_PATH,
    ],
    access,
    settings,
  );
  verify.terminationMessagePolicy = 'FallbackToLogsOnError';
  const job = moverJob({
    name: verifyJobName(name, slot),
    namespace: repo.metadata.namespace ?? '',
    labels: repositoryJobLabels(name),
    containers: [verify],
    volumes: repositoryVolumes(access),
    blockDevices: false,
    settings,
  });
  return ownedByRepository(job, repo);
}

/** Container name of the verify Job. */
export const VERIFY_CONTAINER = 'verify';

/** The latest slot of a UTC cron schedule at or before `now`, and the next one after it. */
export function cronSlots(expr: string, now: Date): { last: Date; next: Date } {
  const it = CronExpressionParser.parse(expr, { currentDate: new Date(now.getTime() + 1000), tz: 'UTC' });
  const last = it.prev().toDate();
  const after = CronExpressionParser.parse(expr, { currentDate: now, tz: 'UTC' });
  return { last, next: after.next().toDate() };
}

/** The latest gc slot at or before `now`, and the next one after it (UTC cron). */
export function gcSlots(schedule: string | undefined, now: Date): { last: Date; next: Date } {
  const expr = schedule || DEFAULT_GC_SCHEDULE;
  const it = CronExpressionParser.parse(expr, { currentDate: new Date(now.getTime() + 1000), tz: 'UTC' });
  const last = it.prev().toDate();
  const after = CronExpressionParser.parse(expr, { currentDate: now, tz: 'UTC' });
  return { last, next: after.next().toDate() };
}

/**
 * Owner reference to the repository for its maintenance Jobs and ConfigMap: when the repository goes,
 * the garbage collector takes them (and the Jobs' pods) with it. Not a controller reference, so
 * nothing else changes hands.
 */
function repositoryOwner(repo: BackupRepository): V1OwnerReference {
  return {
    apiVersion: repo.apiVersion ?? API_VERSION,
    kind: 'BackupRepository',
    name: repo.metadata.name ?? '',
    uid: repo.metadata.uid ?? '',
    blockOwnerDeletion: false,
  };
}

function ownedByRepository(job: V1Job, repo: BackupRepository): V1Job {
  return { ...job, metadata: { ...job.metadata, ownerReferences: [repositoryOwner(repo)] } };
}
