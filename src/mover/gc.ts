/**
 * Garbage collection: marks every blob the manifests reference, then reclaims packs holding only
 * garbage and repacks packs that are mostly garbage. It is safe beside running backups:
 *
 * - Backups write a lock before they read the index, and index each pack right after writing it.
 * - gc removes garbage from the index first (new backups then cannot reuse it), and deletes packs
 *   only if no backup, restore or verify lock is live after that; otherwise it defers the deletion
 *   (the packs stay as unindexed "orphans" until a later gc finds the repository quiet).
 * - Manifests that appear while gc runs are marked too; a garbage pack one of them uses is
 *   re-indexed instead of deleted. A referenced orphan is always re-indexed from its own header.
 * - Copies in the damaged record are not live (a good copy is, if any) and never repacked; their bad
 *   flags go into the index gc writes.
 * - Given the manifests the cluster still references, gc first deletes the other ones older than a
 *   grace period (younger ones may belong to a backup whose status is being written right now).
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError } from './backend/backend.js';
import { type IndexedPack, packKey } from './repository/format.js';
import { PackWriter } from './repository/packer.js';
import { idFromKey, type Manifest, type Repository } from './repository/repository.js';
import { forEachBlock, forEachPage, listPacks, loadManifests, readPackHeader } from './scan.js';

/** Options of {@link gc}. */
export interface GcOptions {
  /** Repack packs whose live share is below this fraction (default 0.5); 0 disables repacking. */
  repackBelow?: number;
  /** Delete manifests not in `live` that are older than `graceMs` (by their time) before marking. */
  orphans?: { live: ReadonlySet<string>; graceMs: number; now?: number };
}

/** Ids of deleted orphan manifests a result lists at most (the count is always exact). */
export const MAX_ORPHANS_LISTED = 50;

/** What gc did. */
export interface GcResult {
  manifests: number;
  packsDeleted: number;
  bytesFreed: number;
  packsRepacked: number;
  bytesRepacked: number;
  orphansReindexed: number;
  indexObjectsReplaced: number;
  /** With {@link GcOptions.orphans}: how many unreferenced manifests were deleted, and the first ids. */
  orphanManifestsDeleted?: number;
  orphanManifests?: string[];
  /** Why deletion was postponed (a backup, restore or verify was running), when it was. */
  deferred?: string;
  seconds: number;
}

/** Runs gc on `repo` (opened fresh, so the index is read whole). */
export async function gc(repo: Repository, options: GcOptions = {}): Promise<GcResult> {
  const started = process.hrtime.bigint();
  const repackBelow = options.repackBelow ?? 0.5;
  const lock = await repo.lock('gc');
  const result: GcResult = {
    manifests: 0,
    packsDeleted: 0,
    bytesFreed: 0,
    packsRepacked: 0,
    bytesRepacked: 0,
    orphansReindexed: 0,
    indexObjectsReplaced: 0,
    seconds: 0,
  };
  const others = async (): Promise<string | undefined> => {
    const live = (await repo.liveLocks()).filter((l) => l.id !== lock.info.id && l.kind !== 'gc');
    return live.length
      ? `${live.length} ${live.map((l) => l.kind).join('/')} lock(s) live, e.g. ${live[0]!.id} since ${live[0]!.created}`
      : undefined;
  };
  try {
    const busyAtStart = await others();
    // List packs before the index: a pack listed here and missing from the index is an orphan.
    const stored = await listPacks(repo);
    await repo.loadIndex();
    repo.applyDamaged(await repo.loadDamaged());
    const indexFiles = new Set(repo.index.loadedFiles);
    const orphans = new Map<string, IndexedPack>();
    for (const [packId, size] of stored) {
      if (repo.index.hasPack(packId)) continue;
      try {
        orphans.set(packId, await readPackHeader(repo, packId, size));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    const orphanOf = new Map<string, string>();
    for (const o of orphans.values())
      for (const e of o.entries) orphanOf.set(e.id.toString('latin1'), o.packId);

    const live = new Set<string>();
    const reindex = async (packId: string): Promise<void> => {
      const o = orphans.get(packId);
      if (!o) return;
      orphans.delete(packId);
      await repo.writeIndex(`${packId}`, [o]);
      result.orphansReindexed++;
    };
    const mark = async (manifests: Manifest[]): Promise<void> => {
      for (const m of manifests) {
        for (const pageId of m.pages) {
          const key = Buffer.from(pageId, 'hex').toString('latin1');
          live.add(key);
          if (!repo.index.has(key) && orphanOf.has(key)) await reindex(orphanOf.get(key)!);
        }
        await forEachPage(repo, m, async (page, _pageId, ids) => {
          const needed: string[] = [];
          forEachBlock(m, page, ids, (key) => {
            live.add(key);
            if (!repo.index.has(key) && orphanOf.has(key)) needed.push(orphanOf.get(key)!);
          });
          for (const packId of new Set(needed)) await reindex(packId);
        });
      }
    };
    let manifests = await loadManifests(repo);
    if (options.orphans) {
      const { live: keep, graceMs, now = Date.now() } = options.orphans;
      const doomed = orphanManifests(manifests, keep, graceMs, now);
      // Deleting a manifest is what `delete` does: the rest of this run reclaims its blocks.
      for (const id of doomed) await repo.deleteManifest(id);
      const gone = new Set(doomed);
      manifests = manifests.filter((m) => !gone.has(m.id));
      result.orphanManifestsDeleted = doomed.length;
      result.orphanManifests = doomed.slice(0, MAX_ORPHANS_LISTED);
    }
    const seenManifests = new Set(manifests.map((m) => m.id));
    result.manifests = manifests.length;
    await mark(manifests);

    if (busyAtStart) {
      result.deferred = busyAtStart;
      return finish(result, started);
    }

    // Live bytes per pack, counting each blob once, at the location the index uses.
    const liveBytes = new Map<number, number>();
    const liveKeys = new Map<number, string[]>();
    for (const key of live) {
      const loc = repo.index.get(key);
      if (!loc) continue;
      liveBytes.set(loc.pack, (liveBytes.get(loc.pack) ?? 0) + loc.length);
      const keys = liveKeys.get(loc.pack);
      if (keys) keys.push(key);
      else liveKeys.set(loc.pack, [key]);
    }
    const garbage = new Map<string, number>(); // pack id -> size
    const repack: number[] = [];
    repo.index.packIds.forEach((packId, pack) => {
      const size = stored.get(packId);
      if (size === undefined) return; // indexed but gone: nothing to reclaim
      const used = liveBytes.get(pack) ?? 0;
      if (used === 0) garbage.set(packId, size);
      else if (used < size * repackBelow) repack.push(pack);
    });
    for (const o of orphans.values()) garbage.set(o.packId, o.size);

    // Copy live blobs out of mostly-garbage packs; sealed blobs move as they are (bound to their id only).
    if (repack.length > 0) {
      const writer = new PackWriter(repo);
      for (const pack of repack) {
        const packId = repo.index.packIds[pack]!;
        const body = await repo.backend.get(packKey(packId));
        for (const key of liveKeys.get(pack) ?? []) {
          const loc = repo.index.get(key)!;
          await writer.add(
            idFromKey(key),
            loc.type,
            loc.comp,
            loc.rawLength,
            body.subarray(loc.offset, loc.offset + loc.length),
          );
        }
        result.packsRepacked++;
        result.bytesRepacked += body.length;
        garbage.set(packId, body.length);
      }
      await writer.finish();
    }

    // One index object for all kept packs, then drop the objects it replaces.
    // Pack by pack from the compact index: never every entry as objects at once.
    const kept = function* (): Generator<IndexedPack> {
      for (const packId of repo.index.packIds)
        if (!garbage.has(packId) && stored.has(packId)) yield repo.index.packEntries(packId)!;
    };
    const newIndex = await repo.writeIndex(`gc-${randomBytes(8).toString('hex')}`, kept());
    for (const key of indexFiles) {
      if (key === newIndex) continue;
      await repo.backend.delete(key);
      result.indexObjectsReplaced++;
    }

    // Anyone who started before the index rewrite may still use garbage: then wait for a later gc.
    const busy = await others();
    if (busy) {
      result.deferred = busy;
      return finish(result, started);
    }
    // Backups that finished meanwhile: keep (and re-index) whatever their manifests use.
    const late = (await loadManifests(repo)).filter((m) => !seenManifests.has(m.id));
    if (late.length > 0) {
      await repo.loadIndex(); // their packs' index objects are newer than our first read
      const liveBefore = new Set(live);
      await mark(late);
      for (const key of live) {
        if (liveBefore.has(key)) continue;
        const loc = repo.index.get(key);
        const packId = loc ? repo.index.packIds[loc.pack]! : undefined;
        if (packId && garbage.has(packId)) {
          garbage.delete(packId);
          await repo.writeIndex(packId, [repo.index.packEntries(packId)!]);
        }
      }
    }
    for (const [packId, size] of garbage) {
      await repo.backend.delete(packKey(packId));
      result.packsDeleted++;
      result.bytesFreed += size;
    }
    return finish(result, started);
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/**
 * The manifests an orphan sweep deletes: those not in `live` whose time is more than `graceMs`
 * before `now`. A manifest whose time does not parse is kept.
 */
export function orphanManifests(
  manifests: readonly Pick<Manifest, 'id' | 'time'>[],
  live: ReadonlySet<string>,
  graceMs: number,
  now: number,
): string[] {
  return manifests.filter((m) => !live.has(m.id) && now - Date.parse(m.time) > graceMs).map((m) => m.id);
}

function finish(result: GcResult, started: bigint): GcResult {
  result.seconds = Math.round(Number(process.hrtime.bigint() - started) / 1e6) / 1000;
  return result;
}
