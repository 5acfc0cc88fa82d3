/**
 * Walking the repository for maintenance: every manifest and the blocks its pages list, pack
 * listings, and pack headers (to find blobs of packs no index lists).
 */
import { MoverError } from './errors.js';
import { ID_BYTES, ZERO_ID } from './repository/crypto.js';
import type { IndexedPack } from './repository/format.js';
import { idKey, type Manifest, type Repository } from './repository/repository.js';

/** Loads every manifest (sorted by time); unreadable ones are reported through `onBad`. */
export async function loadManifests(
  repo: Repository,
  onBad?: (id: string, err: Error) => void,
): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const id of await repo.listManifestIds()) {
    try {
      out.push(await repo.loadManifest(id));
    } catch (err) {
      // Deleted while we listed: it no longer matters.
      if (err instanceof MoverError && err.code === 'NotFound') continue;
      if (!onBad) throw err;
      onBad(id, err as Error);
    }
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

/** Visits each page of a manifest with its block ids; a page that fails to load goes to `onBadPage`. */
export async function forEachPage(
  repo: Repository,
  m: Manifest,
  visit: (page: number, pageId: string, ids: Buffer) => void | Promise<void>,
  onBadPage?: (page: number, pageId: string, err: Error) => void,
): Promise<void> {
  for (let p = 0; p < m.pages.length; p++) {
    let ids: Buffer;
    try {
      ids = await repo.loadPage(m.pages[p]!);
    } catch (err) {
      if (!onBadPage) throw err;
      onBadPage(p, m.pages[p]!, err as Error);
      continue;
    }
    await visit(p, m.pages[p]!, ids);
  }
}

/** Visits every non-hole block of a page as (id key, byte offset in the volume). */
export function forEachBlock(
  m: Manifest,
  page: number,
  ids: Buffer,
  visit: (key: string, offset: number) => void,
): void {
  for (let i = 0; i * ID_BYTES < ids.length; i++) {
    const id = ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
    if (id.equals(ZERO_ID)) continue;
    visit(idKey(id), (page * m.pageBlocks + i) * m.blockSize);
  }
}

/** Pack id -> stored size, from the `data/` listing. */
export function listPacks(repo: Repository): Promise<Map<string, number>> {
  return repo.listPacks();
}

/** Reads a pack's own header: the blobs it holds. */
export function readPackHeader(repo: Repository, packId: string, size: number): Promise<IndexedPack> {
  return repo.readPackHeader(packId, size);
}
