/**
 * Pure builders for a OneOffBackup: the display names of its Backups and the Backup objects themselves.
 * Generated names derive from the request's uid and an attempt counter, so a controller that dies after
 * creating some Backups picks the same names again instead of making duplicates. Backups carry labels
 * back to the request but no ownerReference: deleting the request never deletes backup data.
 */
import { createHash } from 'node:crypto';
import { API_VERSION } from '../../api/constants.js';
import {
  LABEL_MANAGED_BY,
  LABEL_ONE_OFF_BACKUP,
  LABEL_ORIGIN,
  LABEL_REPOSITORY,
  LABEL_SERVER_KIND,
  LABEL_SERVER_NAME,
  MANAGED_BY,
} from '../../api/labels.js';
import { MANUAL_PREFIX, backupNameForServer, backupObjectName } from '../../api/names.js';
import type { Backup, OneOffBackup, ServerRef } from '../../api/types.js';
import { labelValue } from '../shared/names.js';

/** Annotation with the uid of the OneOffBackup that created a Backup (names alone may be reused). */
export const ANNOTATION_ONE_OFF_UID = 'csbs.dev/oneoffbackup-uid';

/** `manualbk_` + 4 hex characters derived from the request's uid and the attempt number. */
export function generatedBaseName(uid: string, attempt: number): string {
  const hex = createHash('sha256').update(`${uid}:${attempt}`).digest('hex').slice(0, 4);
  return `${MANUAL_PREFIX}${hex}`;
}

/** The display name of each server's backup for a base name. */
export function displayNames(base: string, servers: ServerRef[]): string[] {
  return servers.map((_, i) => backupNameForServer(base, i, servers.length));
}

/** The Backup for one server of a OneOffBackup. */
export function desiredBackup(
  oob: OneOffBackup,
  server: ServerRef,
  backupName: string,
  repository: string,
): Backup {
  return {
    apiVersion: API_VERSION,
    kind: 'Backup',
    metadata: {
      name: backupObjectName(backupName),
      namespace: oob.metadata.namespace,
      labels: {
        [LABEL_SERVER_KIND]: server.kind,
        [LABEL_SERVER_NAME]: labelValue(server.name),
        [LABEL_REPOSITORY]: labelValue(repository),
        [LABEL_ORIGIN]: 'OneOff',
        [LABEL_ONE_OFF_BACKUP]: labelValue(oob.metadata.name ?? ''),
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
      annotations: { [ANNOTATION_ONE_OFF_UID]: oob.metadata.uid ?? '' },
    },
    spec: {
      backupName,
      server: { kind: server.kind, name: server.name },
      origin: 'OneOff',
      oneOffBackupRef: { name: oob.metadata.name ?? '' },
      repositoryRef: { name: repository },
      ...(oob.spec.description ? { description: oob.spec.description } : {}),
      ...(oob.spec.forceFull ? { forceFull: true } : {}),
    },
  };
}

/** Whether an existing Backup was made by this very OneOffBackup (same uid). */
export function madeBy(backup: Backup, oob: OneOffBackup): boolean {
  return backup.metadata.annotations?.[ANNOTATION_ONE_OFF_UID] === oob.metadata.uid;
}

/**
 * The base name to use: the user's `backupName`, else the first generated name none of whose per-server
 * names is taken by a Backup this request did not make. Undefined when the user's name is taken.
 */
export function chooseBaseName(
  oob: OneOffBackup,
  servers: ServerRef[],
  existing: Backup[],
  maxAttempts = 50,
): { base: string } | { taken: string } {
  const foreign = new Set(existing.filter((b) => !madeBy(b, oob)).map((b) => b.metadata.name));
  const clashOf = (base: string) => displayNames(base, servers).find((n) => foreign.has(backupObjectName(n)));
  if (oob.spec.backupName) {
    const clash = clashOf(oob.spec.backupName);
    return clash ? { taken: clash } : { base: oob.spec.backupName };
  }
  // Ours already exist: keep their base (the first attempt whose names match them).
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const base = generatedBaseName(oob.metadata.uid ?? oob.metadata.name ?? '', attempt);
    if (!clashOf(base)) return { base };
  }
  return { taken: `${MANUAL_PREFIX}* (${maxAttempts} generated names all taken)` };
}
