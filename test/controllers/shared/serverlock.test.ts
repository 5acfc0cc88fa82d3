/** The per-server lock against the sandbox API server: who may take it from whom. */
import { expect } from 'chai';
import type { Backup } from '../../../src/api/types.js';
import { holderActive } from '../../../src/controllers/backup/reconciler.js';
import { acquireServerLock, releaseServerLock } from '../../../src/controllers/shared/serverlock.js';
import { Kinds } from '../../../src/runtime/kinds.js';
import { namespace, useSandbox } from '../../runtime/helpers.js';
import { aBackup } from '../builders.js';

describe('controllers/shared/serverlock against the sandbox', () => {
  const { client } = useSandbox({ cluster: false });
  const server = { kind: 'VirtualMachine', name: 'vm1' } as const;

  /** Creates Backup manualbk-<short> (optionally in `phase`) and returns its lock holder name. */
  async function backupIn(ns: string, short: string, phase?: string): Promise<`Backup/${string}`> {
    const b = aBackup(ns, `manualbk-${short}`).result();
    delete (b.metadata as { uid?: string }).uid;
    delete (b.metadata as { creationTimestamp?: unknown }).creationTimestamp;
    await client().create(Kinds.Backup, { ...b, status: undefined } as Backup);
    if (phase) await client().patchStatus(Kinds.Backup, ns, `manualbk-${short}`, { phase });
    return `Backup/manualbk-${short}`;
  }

  const take = (ns: string, holder: `Backup/${string}`) =>
    acquireServerLock(client(), ns, server, holder, (h) => holderActive(client(), ns, h));

  it('a holder that took the lock but has not written Snapshotting yet keeps it', async () => {
    const ns = await namespace(client(), 'lock');
    const a = await backupIn(ns, 'a');
    const b = await backupIn(ns, 'b');
    expect(await take(ns, a)).to.deep.equal({ acquired: true });
    // a has no status yet (Pending), then Pending written: either way b must wait.
    expect(await take(ns, b)).to.deep.equal({ acquired: false, holder: a });
    await client().patchStatus(Kinds.Backup, ns, 'manualbk-a', { phase: 'Pending' });
    expect(await take(ns, b)).to.deep.equal({ acquired: false, holder: a });
    await client().patchStatus(Kinds.Backup, ns, 'manualbk-a', { phase: 'Uploading' });
    expect(await take(ns, b)).to.deep.equal({ acquired: false, holder: a });
    expect(await take(ns, a), 're-entrant').to.deep.equal({ acquired: true });
  });

  it('a finished, failed or deleted holder loses the lock to the next backup', async () => {
    const ns = await namespace(client(), 'stale');
    for (const phase of ['Available', 'Failed']) {
      const old = await backupIn(ns, phase.toLowerCase(), phase);
      expect(await take(ns, old)).to.deep.equal({ acquired: true });
      const next = await backupIn(ns, `after-${phase.toLowerCase()}`);
      expect(await take(ns, next), `after a ${phase} holder`).to.deep.equal({ acquired: true });
      await releaseServerLock(client(), ns, server, next);
    }
    expect(await take(ns, 'Backup/manualbk-ghost'), 'nobody holds it').to.deep.equal({ acquired: true });
    const last = await backupIn(ns, 'last');
    expect(await take(ns, last), 'the holder does not exist').to.deep.equal({ acquired: true });
  });
});
