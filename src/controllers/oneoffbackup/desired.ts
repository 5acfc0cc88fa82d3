/**
 * Pure builders for a OneOffBackup: the display names of its Backups and the Backup objects themselves.
 * Names derive from the request's uid, so a controller that dies after creating some Backups picks the
 * same names again instead of making duplicates. Backups carry labels
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
import { serverKey } from '../../api/servers.js';
import { labelValue, shortHash } from '../shared/names.js';

/** Annotation with the uid of the OneOffBackup that created a Backup (names alone may be reused). */
export const ANNOTATION_ONE_OFF_UID = 'csbs.dev/oneoffbackup-uid';

/** `manualbk_` + 4 hex characters derived from the request's uid. */
export function generatedBaseName(uid: string): string {
  const hex = createHash('sha256').update(uid).digest('hex').slice(0, 4);
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
      name: backupObjectNameFor(oob, server, backupName),
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
 * The base display name: the user's `backupName`, else one generated from the request's uid. Display
 * names may repeat (a user's `manualbk_before_upgrade` every month, two generated names drawing the
 * same 4 hex digits): object names never do, see {@link backupObjectNameFor}.
 */
export function baseName(oob: OneOffBackup): string {
  return oob.spec.backupName ?? generatedBaseName(oob.metadata.uid ?? oob.metadata.name ?? '');
}

/**
 * The Backup object name for one server of a request: the display name's DNS form plus 8 hex digits
 * of the request's uid and the server, so two requests never collide, and a controller that dies
 * after creating it computes the same name again.
 */
export function backupObjectNameFor(oob: OneOffBackup, server: ServerRef, backupName: string): string {
  const uid = oob.metadata.uid ?? `${oob.metadata.namespace}/${oob.metadata.name}`;
  return `${backupObjectName(backupName)}-${shortHash(`${uid}/${serverKey(server)}`)}`;
}
