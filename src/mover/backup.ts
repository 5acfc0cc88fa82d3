/**
 * Backup: reads a volume in large chunks, hashes every block in worker threads, compresses and
 * seals only blocks the repository lacks, packs them, writes the manifest's pages and finally the
 * manifest itself. Memory is bounded by the chunks in flight, not by the volume size.
 *
 * Blocks in the repository's damaged record are written again rather than deduplicated; once the
 * manifest is written their records are cleared, which heals every manifest that uses them. With an
 * idempotency key the manifest's id is derived from the key, so a retried run finds the finished one.
 */
import { randomBytes } from 'node:crypto';
import { MoverError, usageError } from './errors.js';
import { defaultWorkerCount, WorkerPool } from './pipeline/pool.js';
import type { EncodeReply, HashReply } from './pipeline/messages.js';
import { blobId, ID_BYTES, SEAL_OVERHEAD, ZERO_ID } from './repository/crypto.js';
import { BlobType } from './repository/format.js';
import { type NewBlob, PackWriter } from './repository/packer.js';
import { idKey, type Manifest, type Repository } from './repository/repository.js';
import { openSource } from './volume.js';

/** A byte range of the volume that changed since the parent (from changed-block tracking). */
export interface Extent {
  offset: number;
  length: number;
}

/** Options of {@link backup}. */
export interface BackupOptions {
  source: string;
  parent?: string;
  tags?: Record<string, string>;
  /** With a parent: only these ranges changed; everything else is taken from the parent. */
  changedExtents?: Extent[];
  workers?: number;
  onProgress?: (p: BackupProgress) => void;
  /**
   * Names this backup for retries: when a manifest with this key exists, it is reported (with
   * `reused: true`) and the source is not read. Any string of 1 to 253 characters.
   */
  idempotencyKey?: string;
}

/** The manifest tag holding a backup's idempotency key. */
export const IDEMPOTENCY_TAG = 'csbs.dev/idempotency-key';
/** Longest idempotency key: a Kubernetes object name fits. */
export const MAX_IDEMPOTENCY_KEY = 253;

/** Progress of a running backup. */
export interface BackupProgress {
  phase: 'backup';
  bytesDone: number;
  bytesTotal: number;
  bytesNew: number;
  blocksNew: number;
  blocksReused: number;
  blocksZero: number;
}

/** Where the time went, in seconds (CPU seconds summed over workers for read/hash/compress/encrypt). */
export interface Phases {
  read: number;
  hash: number;
  compress: number;
  encrypt: number;
  write: number;
}

/** The result of a backup: the CLI prints it as the last line. */
export interface BackupSummary {
  manifest: string;
  type: 'Full' | 'Incremental';
  parent?: string;
  sizeBytes: number;
  bytesRead: number;
  bytesNew: number;
  blocksNew: number;
  blocksReused: number;
  blocksZero: number;
  packsWritten: number;
  /** Blocks and pages of the damaged record this backup wrote again. */
  repairedBlobs: number;
  seconds: number;
  phases: Phases;
  /** Set when an idempotency key found this backup already done: the figures are the original run's. */
  reused?: true;
}

/** Bytes per hash request: large sequential reads, a few MiB each. */
const CHUNK_BYTES = 4 << 20;
/** How often a running backup picks up index objects written by others. */
const INDEX_REFRESH_MS = 2000;

/** Backs up `options.source` into `repo` and returns the summary; the manifest is written last. */
export async function backup(repo: Repository, options: BackupOptions): Promise<BackupSummary> {
  const started = process.hrtime.bigint();
  const key = options.idempotencyKey;
  let keyedId: string | undefined;
  if (key !== undefined) {
    keyedId = idempotentManifestId(repo, key);
    const existing = await readableManifest(repo, keyedId);
    if (existing?.tags[IDEMPOTENCY_TAG] === key) {
      const original = existing.summary as unknown as BackupSummary;
      return { ...original, manifest: existing.id, reused: true };
    }
    // Another backup's manifest under that id (a 64-bit collision): this one takes a random id.
    if (existing) keyedId = undefined;
  }
  const { blockSize, pageBlocks } = repo.config;
  const source = await openSource(options.source);
  const parent = options.parent ? await loadParent(repo, options.parent) : undefined;
  const size = source.size;
  const nBlocks = Math.ceil(size / blockSize);
  const chunkBlocks = Math.max(1, Math.floor(CHUNK_BYTES / blockSize));
  const nChunks = Math.ceil(nBlocks / chunkBlocks);
  const nPages = Math.ceil(nBlocks / pageBlocks);
  const useExtents =
    parent !== undefined && options.changedExtents !== undefined && parent.sizeBytes === size;
  const extents = useExtents ? [...options.changedExtents!].sort((a, b) => a.offset - b.offset) : [];

  const lock = await repo.lock('backup');
  const pool = new WorkerPool(
    {
      dataKey: repo.dataKey,
      idKey: repo.idKey,
      compression: repo.config.compression,
      compressionLevel: repo.config.compressionLevel,
    },
    {
      ...(options.workers ? { workers: options.workers } : {}),
      slots: 2 * (options.workers ?? defaultWorkerCount()),
      inputBytes: chunkBlocks * blockSize,
      outputBytes: chunkBlocks * (blockSize + SEAL_OVERHEAD),
    },
  );
  try {
    await repo.loadIndex();
    // Recorded bad copies are flagged, so neither blocks nor pages deduplicate against them.
    const damaged = await repo.loadDamaged();
    repo.applyDamaged(damaged);
    const damagedKeys = new Set(damaged.map((d) => Buffer.from(d.blob, 'hex').toString('latin1')));
    const repaired = new Set<string>();
    const packer = new PackWriter(repo);
    const compressor = repo.newCompressor();
    const phases: Phases = { read: 0, hash: 0, compress: 0, encrypt: 0, write: 0 };
    const progress: BackupProgress = {
      phase: 'backup',
      bytesDone: 0,
      bytesTotal: size,
      bytesNew: 0,
      blocksNew: 0,
      blocksReused: 0,
      blocksZero: 0,
    };
    let bytesRead = 0;
    const claimed = new Set<string>();
    const pageIds: string[] = new Array<string>(nPages);
    const openPages = new Map<number, { ids: Buffer; remaining: number }>();
    const parentPages = new Map<number, Promise<Buffer>>();

    const parentPage = (p: number): Promise<Buffer> => {
      let page = parentPages.get(p);
      if (!page) {
        page = repo.loadPage(parent!.pages[p]!);
        parentPages.set(p, page);
      }
      return page;
    };

    const storePage = async (p: number, ids: Buffer): Promise<void> => {
      const id = blobId(repo.idKey, ids);
      const key = idKey(id);
      pageIds[p] = id.toString('hex');
      if (packer.has(id, key) || claimed.has(key)) return;
      claimed.add(key);
      if (damagedKeys.has(key)) repaired.add(key);
      const { comp, bytes } = compressor.compress(ids);
      await packer.add(id, BlobType.Page, comp, ids.length, repo.sealBlob(id, bytes));
      claimed.delete(key);
    };

    const setBlockId = async (g: number, id: Buffer): Promise<void> => {
      const p = Math.floor(g / pageBlocks);
      let page = openPages.get(p);
      if (!page) {
        const count = Math.min(pageBlocks, nBlocks - p * pageBlocks);
        page = { ids: Buffer.alloc(count * ID_BYTES), remaining: count };
        openPages.set(p, page);
      }
      id.copy(page.ids, (g - p * pageBlocks) * ID_BYTES);
      if (--page.remaining === 0) {
        openPages.delete(p);
        parentPages.delete(p);
        await storePage(p, page.ids);
      }
    };

    let extentAt = 0;
    const wantedBlocks = (first: number, count: number): Uint8Array | undefined => {
      if (!useExtents) return undefined;
      const want = new Uint8Array(count);
      const start = first * blockSize;
      const end = Math.min((first + count) * blockSize, size);
      while (extentAt < extents.length && extents[extentAt]!.offset + extents[extentAt]!.length <= start)
        extentAt++;
      for (let e = extentAt; e < extents.length && extents[e]!.offset < end; e++) {
        const from = Math.max(extents[e]!.offset, start);
        const to = Math.min(extents[e]!.offset + extents[e]!.length, end);
        for (let b = Math.floor((from - start) / blockSize); b * blockSize + start < to; b++) want[b] = 1;
      }
      return want;
    };

    // Other backups index their packs as they go: re-read new index objects now and then, so
    // concurrent backups of similar volumes dedup against each other.
    let lastRefresh = Date.now();
    const refreshIndex = async (): Promise<void> => {
      if (Date.now() - lastRefresh < INDEX_REFRESH_MS) return;
      lastRefresh = Date.now();
      await repo.loadIndex();
    };

    const processChunk = async (c: number): Promise<void> => {
      await refreshIndex();
      const first = c * chunkBlocks;
      const count = Math.min(chunkBlocks, nBlocks - first);
      const offset = first * blockSize;
      const length = Math.min(count * blockSize, size - offset);
      const want = wantedBlocks(first, count);
      let reply: HashReply;
      let worker = -1;
      let slot = -1;
      const task = pool.task();
      try {
        if (want && !want.includes(1)) {
          reply = {
            task,
            ids: new Uint8Array(count * ID_BYTES),
            flags: new Uint8Array(count).fill(2),
            readSeconds: 0,
            hashSeconds: 0,
          };
        } else {
          slot = await pool.acquireSlot();
          worker = pool.pick();
          try {
            reply = await pool.run<HashReply>(
              {
                op: 'hash',
                task,
                path: options.source,
                offset,
                length,
                blockSize,
                keep: true,
                slot,
                ...(want ? { want } : {}),
              },
              worker,
            );
          } catch (err) {
            throw new MoverError(
              'SourceUnreadable',
              `cannot read source ${options.source} at offset ${offset}: ${(err as Error).message}`,
            );
          }
          phases.read += reply.readSeconds;
          phases.hash += reply.hashSeconds;
        }
        const ids = Buffer.from(reply.ids.buffer, reply.ids.byteOffset, reply.ids.byteLength);
        const newBlocks: number[] = [];
        const newKeys: string[] = [];
        for (let i = 0; i < count; i++) {
          const flag = reply.flags[i];
          if (flag === 2) {
            const g = first + i;
            const p = Math.floor(g / pageBlocks);
            const pid = (await parentPage(p)).subarray(
              (g - p * pageBlocks) * ID_BYTES,
              (g - p * pageBlocks + 1) * ID_BYTES,
            );
            pid.copy(ids, i * ID_BYTES);
            if (pid.equals(ZERO_ID)) progress.blocksZero++;
            else progress.blocksReused++;
            continue;
          }
          bytesRead += Math.min(blockSize, size - (first + i) * blockSize);
          if (flag === 1) {
            progress.blocksZero++;
            continue;
          }
          const id = ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
          const key = idKey(id);
          if (packer.has(id, key) || claimed.has(key)) {
            progress.blocksReused++;
          } else {
            claimed.add(key);
            newBlocks.push(i);
            newKeys.push(key);
            if (damagedKeys.has(key)) repaired.add(key);
          }
        }
        if (worker >= 0 && newBlocks.length === 0) {
          pool.notify({ op: 'release', task }, worker);
          pool.releaseSlot(slot);
          slot = -1;
        } else if (worker >= 0) {
          const enc = await pool.run<EncodeReply>({ op: 'encode', task, blocks: newBlocks }, worker);
          phases.compress += enc.compressSeconds;
          phases.encrypt += enc.encryptSeconds;
          const data = pool.outputs[slot]!;
          const blobs: NewBlob[] = [];
          let at = 0;
          for (let k = 0; k < newBlocks.length; k++) {
            const [b, comp, rawLength, n] = [
              enc.meta[k * 4]!,
              enc.meta[k * 4 + 1]!,
              enc.meta[k * 4 + 2]!,
              enc.meta[k * 4 + 3]!,
            ];
            const id = Buffer.from(ids.subarray(b * ID_BYTES, (b + 1) * ID_BYTES));
            blobs.push({ id, type: BlobType.Data, comp, rawLength, sealed: data.subarray(at, at + n) });
            at += n;
          }
          await packer.addAll(blobs);
          // Counted once packed (as before batching): progress never runs ahead of what is stored.
          progress.bytesNew += at;
          progress.blocksNew += blobs.length;
          for (const key of newKeys) claimed.delete(key);
          pool.releaseSlot(slot);
          slot = -1;
        }
        for (let i = 0; i < count; i++)
          await setBlockId(first + i, ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES));
        progress.bytesDone += length;
        options.onProgress?.({ ...progress });
      } finally {
        if (slot >= 0) pool.releaseSlot(slot);
      }
    };

    // A bounded window of chunks in flight keeps memory independent of the volume size.
    const window = pool.size * 2;
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    for (let c = 0; c < nChunks && failure === undefined; c++) {
      const p: Promise<void> = processChunk(c)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      while (inflight.size >= window) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure !== undefined) throw failure;
    await packer.finish();
    phases.write = packer.stats.writeSeconds;
    // Recorded blobs that have a good copy now (this backup's, or a concurrent one's): their bad
    // copies are flagged for good before the manifest, and their records cleared after it.
    const healed = damaged.filter((d) => repo.index.has(Buffer.from(d.blob, 'hex')));
    await repo.writeBadCopies(healed.flatMap((d) => (d.pack ? [d.pack] : [])));

    const id = keyedId ?? randomBytes(8).toString('hex');
    const summary: BackupSummary = {
      manifest: id,
      type: parent ? 'Incremental' : 'Full',
      ...(parent ? { parent: parent.id } : {}),
      sizeBytes: size,
      bytesRead,
      bytesNew: packer.stats.bytes,
      blocksNew: progress.blocksNew,
      blocksReused: progress.blocksReused,
      blocksZero: progress.blocksZero,
      packsWritten: packer.stats.packs,
      repairedBlobs: repaired.size,
      seconds: 0,
      phases: roundPhases(phases),
    };
    const manifest: Manifest = {
      version: 1,
      id,
      time: new Date().toISOString(),
      type: summary.type,
      ...(parent ? { parent: parent.id } : {}),
      source: options.source,
      sizeBytes: size,
      blockSize,
      pageBlocks,
      pages: pageIds,
      tags: { ...options.tags, ...(key !== undefined ? { [IDEMPOTENCY_TAG]: key } : {}) },
      // The summary as reported, so a retry that reuses this manifest reports the same figures.
      summary: { ...summary, seconds: round(Number(process.hrtime.bigint() - started) / 1e9) },
    };
    await repo.saveManifest(manifest);
    // Best effort: a record left behind only makes a later backup store its block once more.
    await repo.clearDamaged(healed.map((d) => d.blob)).catch(() => undefined);
    summary.seconds = round(Number(process.hrtime.bigint() - started) / 1e9);
    return summary;
  } finally {
    await pool.close().catch(() => undefined);
    await lock.release().catch(() => undefined);
  }
}

/**
 * The manifest id of the backup named by idempotency key `key`: derived from the key (keyed with the
 * id key, so ids say nothing about keys), so a retry finds it with one read and two runs at once
 * write the same manifest instead of two.
 */
function idempotentManifestId(repo: Repository, key: string): string {
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY)
    throw usageError(`--idempotency-key must be 1 to ${MAX_IDEMPOTENCY_KEY} characters, got ${key.length}`);
  return blobId(repo.idKey, Buffer.from(`idempotency-key:${key}`))
    .subarray(0, 8)
    .toString('hex');
}

/** The manifest `id` if it exists and reads; an unreadable one is written again by this backup. */
async function readableManifest(repo: Repository, id: string): Promise<Manifest | undefined> {
  try {
    return await repo.loadManifest(id);
  } catch (err) {
    if (err instanceof MoverError && (err.code === 'NotFound' || err.code === 'Corrupt')) return undefined;
    throw err;
  }
}

async function loadParent(repo: Repository, id: string): Promise<Manifest> {
  try {
    return await repo.loadManifest(id);
  } catch (err) {
    if (err instanceof MoverError && err.code === 'NotFound') {
      throw new MoverError('NotFound', `parent manifest ${id} not found in ${repo.backend.location}`);
    }
    throw err;
  }
}

const round = (s: number): number => Math.round(s * 1000) / 1000;

function roundPhases(t: Phases): Phases {
  return {
    read: round(t.read),
    hash: round(t.hash),
    compress: round(t.compress),
    encrypt: round(t.encrypt),
    write: round(t.write),
  };
}
