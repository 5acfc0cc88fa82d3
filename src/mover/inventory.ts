/** `list`, `stats` and `delete`: what the repository holds, and removing manifests from it. */
import { BlobType } from './repository/format.js';
import type { Repository } from './repository/repository.js';
import { forEachBlock, forEachPage, listPacks, loadManifests } from './scan.js';

/** One manifest as `list` shows it. */
export interface ManifestListing {
  id: string;
  time: string;
  type: 'Full' | 'Incremental';
  parent?: string;
  sizeBytes: number;
  blockSize: number;
  bytesNew?: number;
  tags: Record<string, string>;
}

/** All manifests, oldest first. */
export async function listManifests(repo: Repository): Promise<ManifestListing[]> {
  return (await loadManifests(repo)).map((m) => ({
    id: m.id,
    time: m.time,
    type: m.type,
    ...(m.parent ? { parent: m.parent } : {}),
    sizeBytes: m.sizeBytes,
    blockSize: m.blockSize,
    ...(typeof m.summary.bytesNew === 'number' ? { bytesNew: m.summary.bytesNew } : {}),
    tags: m.tags,
  }));
}

/** Space accounting of a repository. */
export interface RepoStats {
  manifests: number;
  /** Sum of the volume sizes of all manifests. */
  logicalBytes: number;
  /** Bytes of non-hole blocks over all manifests (what a naive copy would store). */
  dataBytes: number;
  /** Bytes of distinct referenced blocks before compression. */
  uniqueBytes: number;
  /** Sealed bytes of distinct referenced blocks and pages (after compression and encryption). */
  referencedStoredBytes: number;
  /** All pack bytes in storage, referenced or not (gc reclaims the difference). */
  storedBytes: number;
  packs: number;
  blobs: number;
  dedupRatio: number;
  compressionRatio: number;
  blockSize: number;
  compression: string;
}

const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);

/** Computes {@link RepoStats} by walking every manifest. */
export async function repoStats(repo: Repository): Promise<RepoStats> {
  await repo.loadIndex();
  const manifests = await loadManifests(repo);
  const seen = new Set<string>();
  let logicalBytes = 0;
  let dataBytes = 0;
  let uniqueBytes = 0;
  let referencedStoredBytes = 0;
  for (const m of manifests) {
    logicalBytes += m.sizeBytes;
    await forEachPage(repo, m, (page, pageId, ids) => {
      const pageKey = Buffer.from(pageId, 'hex').toString('latin1');
      if (!seen.has(pageKey)) {
        seen.add(pageKey);
        referencedStoredBytes += repo.index.get(pageKey)?.length ?? 0;
      }
      forEachBlock(m, page, ids, (key, offset) => {
        const len = Math.min(m.blockSize, m.sizeBytes - offset);
        dataBytes += len;
        if (seen.has(key)) return;
        seen.add(key);
        const loc = repo.index.get(key);
        if (loc && loc.type === BlobType.Data) {
          uniqueBytes += loc.rawLength;
          referencedStoredBytes += loc.length;
        }
      });
    });
  }
  const packs = await listPacks(repo);
  const storedBytes = sumSizes(packs);
  return {
    manifests: manifests.length,
    logicalBytes,
    dataBytes,
    uniqueBytes,
    referencedStoredBytes,
    storedBytes,
    packs: packs.size,
    blobs: repo.index.size,
    dedupRatio: ratio(dataBytes, uniqueBytes),
    compressionRatio: ratio(uniqueBytes, referencedStoredBytes),
    blockSize: repo.config.blockSize,
    compression: repo.config.compression,
  };
}

/**
 * Deletes manifests. Their data stays until `gc`; other manifests never depend on a deleted one
 * (each lists all its blocks through its own pages). All ids are checked before any is deleted.
 */
export async function deleteManifests(repo: Repository, ids: string[]): Promise<{ deleted: string[] }> {
  for (const id of ids) await repo.loadManifest(id); // NotFound (exit 4) before anything changes
  for (const id of ids) await repo.deleteManifest(id);
  return { deleted: ids };
}

/** Bytes the repository's packs occupy (what `BackupRepository.status.storedBytes` reports). */
export async function storedBytes(repo: Repository): Promise<number> {
  return sumSizes(await listPacks(repo));
}

function sumSizes(packs: Map<string, number>): number {
  let total = 0;
  for (const size of packs.values()) total += size;
  return total;
}
