/**
 * One backup or restore per server at a time. The holder is written into a coordination.k8s.io Lease
 * named after the server: creating it is atomic, so a Backup and a Restore reconciled at the same moment
 * can never both win, and the lock survives controller restarts (it lives in the API, not in memory).
 * A lock whose holder is gone or finished is stale and may be taken over.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, LABEL_SERVER_KIND, LABEL_SERVER_NAME, MANAGED_BY } from '../../api/labels.js';
import type { ServerRef } from '../../api/types.js';
import type { KubeClient } from '../../runtime/client.js';
import { isAlreadyExists, isConflict, isNotFound } from '../../runtime/errors.js';
import { Kinds } from '../../runtime/kinds.js';
import { childName, labelValue } from './names.js';

/** Who holds a server: `Backup/<name>` or `Restore/<name>`. */
export type LockHolder = `${'Backup' | 'Restore'}/${string}`;

/** Name of the Lease that serialises work on a server. */
export function serverLockName(server: ServerRef): string {
  return childName('csbs-lock', `${server.kind}-${server.name}`);
}

/** The Lease a holder creates. */
export function serverLockLease(namespace: string, server: ServerRef, holder: LockHolder): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: serverLockName(server),
      namespace,
      labels: {
        [LABEL_SERVER_KIND]: server.kind,
        [LABEL_SERVER_NAME]: labelValue(server.name),
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
    },
    spec: { holderIdentity: holder },
  };
}

/** Result of {@link acquireServerLock}: held by us, or busy with the current holder. */
export type LockResult = { acquired: true } | { acquired: false; holder: string };

/**
 * Takes the server's lock for `holder` (re-entrant). `stillActive(holder)` says whether another holder
 * still needs the server; if not, its stale Lease is replaced (guarded by resourceVersion).
 */
export async function acquireServerLock(
  client: KubeClient,
  namespace: string,
  server: ServerRef,
  holder: LockHolder,
  stillActive: (holder: string) => Promise<boolean>,
): Promise<LockResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await client.create(Kinds.Lease, serverLockLease(namespace, server, holder));
      return { acquired: true };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const lease = await client.tryGet(Kinds.Lease, namespace, serverLockName(server));
    if (!lease) continue;
    const current = lease.spec?.holderIdentity ?? '';
    if (current === holder) return { acquired: true };
    if (current && (await stillActive(current))) return { acquired: false, holder: current };
    try {
      await client.delete(Kinds.Lease, namespace, serverLockName(server), {
        preconditions: { resourceVersion: lease.metadata?.resourceVersion ?? '' },
        ignoreNotFound: true,
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
  return { acquired: false, holder: 'unknown (lock contended)' };
}

/** Releases the server's lock if `holder` has it; idempotent. */
export async function releaseServerLock(
  client: KubeClient,
  namespace: string,
  server: ServerRef,
  holder: LockHolder,
): Promise<void> {
  const lease = await client.tryGet(Kinds.Lease, namespace, serverLockName(server));
  if (!lease || lease.spec?.holderIdentity !== holder) return;
  try {
    await client.delete(Kinds.Lease, namespace, serverLockName(server), {
      preconditions: { resourceVersion: lease.metadata?.resourceVersion ?? '' },
      ignoreNotFound: true,
    });
  } catch (err) {
    if (!isConflict(err) && !isNotFound(err)) throw err;
  }
}
