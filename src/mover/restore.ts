/**
 * Restore: writes a manifest's volume to a target, verifying every block (authenticated
 * decryption, then its keyed hash). Runs of consecutive blocks are read from their packs and decoded
 * by worker threads into shared slots in volume order; the main thread writes each run to the target.
 * `onlyChanged` hashes the target first and rewrites only differing blocks. Blobs found bad go to the
 * repository's damaged record, so the next backup writes them again.
 */
import * as fsp from 'node:fs/promises';
import { dirname } from 'node:path';
import { NotFoundError } from './backend/backend.js';
import { MoverError } from './errors.js';
import { everyNth } from './pipeline/gc-hint.js';
import { defaultWorkerCount, ownedBuffer, WorkerPool } from './pipeline/pool.js';
import { DECODE_META, type DecodeReply, type DecodeSource, type HashReply } from './pipeline/messages.js';
import { ID_BYTES, ZERO_ID } from './repository/crypto.js';
import { packKey } from './repository/format.js';
import type { BlobLocation, DamagedBlob, Manifest, Repository } from './repository/repository.js';
import { TargetWriter, type Write } from './target-writer.js';
import { statVolume, volumeAccessHint, type VolumeInfo } from './volume.js';

/** Options of {@link restore}. */
export interface RestoreOptions {
  manifest: string;
  target: string;
  onlyChanged?: boolean;
  workers?: number;
  onProgress?: (p: RestoreProgress) => void;
}

/** Progress of a running restore. */
export interface RestoreProgress {
  phase: 'restore';
  bytesDone: number;
  bytesTotal: number;
  bytesWritten: number;
}

/** A block that could not be restored. */
export interface BadBlock {
  block: string;
  offset: number;
  reason: string;
}

/** The result of a restore. */
export interface RestoreSummary {
  manifest: string;
  sizeBytes: number;
  bytesWritten: number;
  blocksWritten: number;
  blocksUnchanged: number;
  blocksZero: number;
  bytesFetched: number;
  seconds: number;
  /**
   * Seconds, summed over concurrent groups: fetch (pack reads, by the workers or from the backend),
   * decode (worker CPU), write (the target writer, including waiting in its queue), compare
   * (--only-changed), sync (final fsync).
   */
  phases: { fetch: number; decode: number; write: number; compare: number; sync: number };
}

/** Pages per planning window: the unit the restore plans reads for (bounded memory). */
const WINDOW_PAGES = 4;
/** Largest range read from a pack at once, and the largest gap between blobs read through. */
const MAX_RANGE = 4 << 20;
const MAX_GAP = 256 << 10;
const CHUNK_BYTES = 4 << 20;
/** Raw (decoded) bytes of one group of blocks at most: the size of a slot's output buffer. */
const MAX_RANGE_RAW = 4 << 20;

/** A block of the volume to restore from its blob. */
interface Planned {
  /** Block number in the volume. */
  g: number;
  id: Buffer;
  loc: BlobLocation;
}

/** Restores manifest `options.manifest` to `options.target`. */
export async function restore(repo: Repository, options: RestoreOptions): Promise<RestoreSummary> {
  const started = process.hrtime.bigint();
  const manifest = await repo.loadManifest(options.manifest);
  const size = manifest.sizeBytes;
  const target = options.target;
  const unwritable = (err: unknown): MoverError =>
    new MoverError(
      'TargetUnwritable',
      `cannot write target ${target}: ${(err as Error).message}${volumeAccessHint(err)}`,
    );
  const existing = await statVolume(target).catch((err: unknown) => {
    if (err instanceof MoverError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw unwritable(err);
    throw new MoverError('TargetTooSmall', `cannot use target ${target}: ${(err as Error).message}`);
  });
  if (existing && existing.size < size) {
    throw new MoverError(
      'TargetTooSmall',
      `target ${target} holds ${existing.size} bytes but manifest ${manifest.id} needs ${size}: use a target of at least ${size} bytes`,
    );
  }
  // Before the lock and the index: a target the mover may not write (or create) fails at once.
  await fsp.access(existing ? target : dirname(target), fsp.constants.W_OK).catch((err: unknown) => {
    throw unwritable(err);
  });
  if (options.onlyChanged && !existing) {
    throw new MoverError('NotFound', `--only-changed needs an existing target, and ${target} does not exist`);
  }
  const lock = await repo.lock('restore');
  try {
    return await restoreLocked(repo, options, manifest, existing, started);
  } finally {
    await lock.release().catch(() => undefined);
  }
}

async function restoreLocked(
  repo: Repository,
  options: RestoreOptions,
  manifest: Manifest,
  existing: VolumeInfo | undefined,
  started: bigint,
): Promise<RestoreSummary> {
  const { blockSize, pageBlocks, sizeBytes: size } = manifest;
  const nBlocks = Math.ceil(size / blockSize);
  const target = options.target;
  await repo.loadIndex();

  // A fresh (or emptied) regular file reads as zeros, so holes need no writes.
  let targetIsZero = false;
  if (!options.onlyChanged) {
    if (!existing || existing.kind === 'file') {
      const fh = await fsp.open(target, existing ? 'r+' : 'w', 0o600);
      try {
        await fh.truncate(0);
        await fh.truncate(Math.max(size, existing?.size ?? 0));
      } finally {
        await fh.close();
      }
      targetIsZero = true;
    }
  }

  const chunkBlocks = Math.max(1, Math.floor(CHUNK_BYTES / blockSize));
  const workers = options.workers ?? defaultWorkerCount();
  // Ranges in flight: each decodes into its own slot, which is free again once written.
  const limit = workers + 2;
  const rangeRawBytes = Math.max(MAX_RANGE_RAW, blockSize);
  const pool = new WorkerPool(
    {
      dataKey: repo.dataKey,
      idKey: repo.idKey,
      compression: repo.config.compression,
      compressionLevel: repo.config.compressionLevel,
    },
    {
      workers,
      // --only-changed also hashes the target through slots.
      slots: limit + (options.onlyChanged ? 2 * workers : 0),
      inputBytes: options.onlyChanged ? chunkBlocks * blockSize : 0,
      outputBytes: rangeRawBytes,
      alignedOutputs: true,
    },
  );
  const summary: RestoreSummary = {
    manifest: manifest.id,
    sizeBytes: size,
    bytesWritten: 0,
    blocksWritten: 0,
    blocksUnchanged: 0,
    blocksZero: 0,
    bytesFetched: 0,
    seconds: 0,
    phases: { fetch: 0, decode: 0, write: 0, compare: 0, sync: 0 },
  };
  const progress: RestoreProgress = { phase: 'restore', bytesDone: 0, bytesTotal: size, bytesWritten: 0 };
  const bad: BadBlock[] = [];
  const damaged: Omit<DamagedBlob, 'by' | 'found'>[] = [];
  const blockLength = (g: number): number => Math.min(blockSize, size - g * blockSize);
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const spawn = async (work: () => Promise<void>): Promise<void> => {
    while (inflight.size >= limit) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
    const p: Promise<void> = work()
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  const writer = await TargetWriter.open(target);
  const collect = everyNth(8);
  // A local repository's packs are read by the workers themselves (no hand-off, no buffer per range).
  const localFile = repo.backend.localFile?.bind(repo.backend);
  const groupBlocks = Math.max(1, Math.floor(rangeRawBytes / blockSize));

  /**
   * Restores a run of consecutive blocks: their blobs are read from as few pack ranges as possible,
   * decoded by a worker into one slot in volume order, and written as one run. Planning by volume
   * rather than by pack keeps writes large even for an incremental backup, whose blocks are spread
   * over many packs.
   */
  const restoreGroup = async (blocks: Planned[]): Promise<void> => {
    const base = blocks[0]!.g * blockSize;
    const sources: { packId: string; start: number; end: number }[] = [];
    const sourceOf = new Int32Array(blocks.length);
    const byPack = new Map<number, number[]>();
    blocks.forEach((b, k) => {
      const list = byPack.get(b.loc.pack);
      if (list) list.push(k);
      else byPack.set(b.loc.pack, [k]);
    });
    for (const [pack, ks] of byPack) {
      ks.sort((x, y) => blocks[x]!.loc.offset - blocks[y]!.loc.offset);
      const packId = repo.index.packIds[pack]!;
      let cur: (typeof sources)[number] | undefined;
      for (const k of ks) {
        const loc = blocks[k]!.loc;
        if (!cur || loc.offset - cur.end > MAX_GAP || loc.offset + loc.length - cur.start > MAX_RANGE) {
          cur = { packId, start: loc.offset, end: loc.offset + loc.length };
          sources.push(cur);
        } else cur.end = Math.max(cur.end, loc.offset + loc.length);
        sourceOf[k] = sources.length - 1;
      }
    }
    const missingPack = (packId: string): string =>
      `pack ${packId}: ${new NotFoundError(packKey(packId), repo.backend.location).message}`;
    const markBad = (k: number, reason: string, pack: string): void => {
      const b = blocks[k]!;
      bad.push({ block: b.id.toString('hex'), offset: b.g * blockSize, reason });
      damaged.push({ blob: b.id.toString('hex'), pack, reason });
    };
    const slot = await pool.acquireSlot();
    try {
      const data: DecodeSource[] = [];
      const missing = new Set<number>();
      const transfer: ArrayBuffer[] = [];
      if (localFile) {
        for (const src of sources)
          data.push({
            file: { path: localFile(packKey(src.packId)), offset: src.start, length: src.end - src.start },
          });
      } else {
        collect();
        const t = process.hrtime.bigint();
        for (const [i, src] of sources.entries()) {
          try {
            const bytes = ownedBuffer(
              await repo.backend.getRange(packKey(src.packId), src.start, src.end - src.start),
            );
            data.push({ data: bytes });
            transfer.push(bytes.buffer as ArrayBuffer);
          } catch (err) {
            if (!(err instanceof NotFoundError)) throw err;
            missing.add(i);
            data.push({ data: new Uint8Array(0) });
          }
        }
        summary.phases.fetch += Number(process.hrtime.bigint() - t) / 1e9;
      }
      const entries: number[] = [];
      blocks.forEach((_, k) => {
        if (!missing.has(sourceOf[k]!)) entries.push(k);
        else markBad(k, missingPack(sources[sourceOf[k]!]!.packId), sources[sourceOf[k]!]!.packId);
      });
      const meta = new Int32Array(entries.length * DECODE_META);
      const ids = Buffer.alloc(entries.length * ID_BYTES);
      entries.forEach((k, e) => {
        const b = blocks[k]!;
        const src = sources[sourceOf[k]!]!;
        meta.set(
          [
            sourceOf[k]!,
            b.loc.offset - src.start,
            b.loc.length,
            b.loc.comp,
            b.loc.rawLength,
            b.g * blockSize - base,
          ],
          e * DECODE_META,
        );
        b.id.copy(ids, e * ID_BYTES);
      });
      const reply = await pool.run<DecodeReply>(
        { op: 'decode', task: pool.task(), sources: data, meta, ids, output: slot },
        pool.pick(),
        transfer,
      );
      summary.phases.fetch += reply.readSeconds;
      summary.phases.decode += reply.decodeSeconds;
      for (const src of sources) summary.bytesFetched += src.end - src.start;
      const failed = new Set<number>();
      for (const f of reply.failures) {
        const k = entries[f.item]!;
        failed.add(k);
        const packId = sources[sourceOf[k]!]!.packId;
        markBad(k, f.missing ? missingPack(packId) : `pack ${packId}: ${f.reason}`, packId);
      }
      const writes: Write[] = [];
      for (const k of entries) {
        const b = blocks[k]!;
        progress.bytesDone += b.loc.rawLength;
        if (failed.has(k)) continue;
        writes.push({ position: b.g * blockSize, from: b.g * blockSize - base, length: b.loc.rawLength });
        summary.blocksWritten++;
      }
      const t = process.hrtime.bigint();
      // Not `+= await`: that reads the total before the wait and loses what others added meanwhile.
      const written = await writer.write(pool.outputs[slot]!, writes);
      summary.bytesWritten += written;
      summary.phases.write += Number(process.hrtime.bigint() - t) / 1e9;
    } finally {
      pool.releaseSlot(slot);
    }
    progress.bytesWritten = summary.bytesWritten;
    options.onProgress?.({ ...progress });
  };

  /** Ids of the target's blocks in [first, first+count): which already hold the right data. */
  const hashTarget = async (first: number, count: number): Promise<Buffer> => {
    const ids = Buffer.alloc(count * ID_BYTES);
    const parts: Promise<void>[] = [];
    for (let b = 0; b < count; b += chunkBlocks) {
      const n = Math.min(chunkBlocks, count - b);
      const offset = (first + b) * blockSize;
      const length = Math.min(n * blockSize, size - offset);
      parts.push(
        (async () => {
          const slot = await pool.acquireSlot();
          try {
            const r = await pool.run<HashReply>(
              { op: 'hash', task: pool.task(), path: target, offset, length, blockSize, keep: false, slot },
              pool.pick(),
            );
            summary.phases.compare += r.readSeconds + r.hashSeconds;
            Buffer.from(r.ids.buffer, r.ids.byteOffset, r.ids.byteLength).copy(ids, b * ID_BYTES);
          } finally {
            pool.releaseSlot(slot);
          }
        })(),
      );
    }
    await Promise.all(parts);
    return ids;
  };

  try {
    const nPages = manifest.pages.length;
    for (let w = 0; w < nPages && failure === undefined; w += WINDOW_PAGES) {
      const first = w * pageBlocks;
      const count = Math.min(WINDOW_PAGES * pageBlocks, nBlocks - first);
      const pages = await Promise.all(
        manifest.pages.slice(w, w + WINDOW_PAGES).map((p) =>
          repo.loadPage(p).catch(async (err: unknown) => {
            if (err instanceof MoverError && err.code === 'Corrupt') {
              const loc = repo.index.get(Buffer.from(p, 'hex'));
              const pack = loc ? repo.index.packIds[loc.pack] : undefined;
              const page = { blob: p, ...(pack ? { pack } : {}), reason: `page: ${err.message}` };
              await repo.recordDamaged([page], 'restore').catch(() => undefined);
            }
            throw err;
          }),
        ),
      );
      const ids = Buffer.concat(pages);
      if (ids.length !== count * ID_BYTES)
        throw new MoverError('Corrupt', `manifest ${manifest.id}: pages do not cover the volume`);
      const current = options.onlyChanged ? await hashTarget(first, count) : undefined;
      const zeroAt: number[] = [];
      let group: Planned[] = [];
      const flush = async (): Promise<void> => {
        if (group.length === 0) return;
        const blocks = group;
        group = [];
        await spawn(() => restoreGroup(blocks));
      };
      for (let i = 0; i < count; i++) {
        const g = first + i;
        const id = ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
        const isZero = id.equals(ZERO_ID);
        if (isZero) summary.blocksZero++;
        if (current && id.equals(current.subarray(i * ID_BYTES, (i + 1) * ID_BYTES))) {
          summary.blocksUnchanged++;
          progress.bytesDone += blockLength(g);
          await flush();
          continue;
        }
        if (isZero) {
          if (!targetIsZero) zeroAt.push(g);
          else progress.bytesDone += blockLength(g);
          await flush();
          continue;
        }
        const loc = repo.index.get(id) ?? (await repo.locate(id));
        if (!loc) {
          bad.push({ block: id.toString('hex'), offset: g * blockSize, reason: 'not in the index' });
          damaged.push({ blob: id.toString('hex'), reason: 'not in the index' });
          await flush();
          continue;
        }
        if (group.length >= groupBlocks) await flush();
        group.push({ g, id: Buffer.from(id), loc });
      }
      await flush();
      // Zero runs: whole blocks, except a short last block.
      const fullZeros = zeroAt.filter((g) => blockLength(g) === blockSize);
      const shortZeros = zeroAt.filter((g) => blockLength(g) !== blockSize);
      for (const [list, len] of [
        [fullZeros, blockSize],
        [shortZeros, shortZeros.length ? blockLength(shortZeros[0]!) : 0],
      ] as const) {
        if (list.length === 0) continue;
        await spawn(async () => {
          const r = await pool.run<{ bytesWritten: number }>(
            {
              op: 'zero',
              task: pool.task(),
              targetPath: target,
              positions: list.map((g) => g * blockSize),
              length: len,
            },
            pool.pick(),
          );
          summary.bytesWritten += r.bytesWritten;
          summary.blocksWritten += list.length;
          progress.bytesDone += r.bytesWritten;
        });
      }
    }
    await Promise.all(inflight);
    if (failure !== undefined) throw failure;
    const syncStart = process.hrtime.bigint();
    await writer.close(); // fsyncs the target
    await pool.close(); // fsyncs the zeros workers wrote to a device
    summary.phases.sync = Number(process.hrtime.bigint() - syncStart) / 1e9;
  } catch (err) {
    await writer.close().catch(() => undefined);
    await pool.close().catch(() => undefined);
    throw err;
  }
  if (bad.length > 0) {
    // Best effort: failing to record must not hide the restore's own error.
    await repo.recordDamaged(damaged, 'restore').catch(() => undefined);
    bad.sort((a, b) => a.offset - b.offset);
    const shown = bad
      .slice(0, 5)
      .map((b) => `block ${b.block} at offset ${b.offset}: ${b.reason}`)
      .join('; ');
    throw Object.assign(
      new MoverError(
        'Corrupt',
        `restore of manifest ${manifest.id} found ${bad.length} bad block(s): ${shown}${bad.length > 5 ? '; ...' : ''}`,
      ),
      { bad },
    );
  }
  summary.seconds = Math.round(Number(process.hrtime.bigint() - started) / 1e6) / 1000;
  for (const k of Object.keys(summary.phases) as (keyof RestoreSummary['phases'])[]) {
    summary.phases[k] = Math.round(summary.phases[k] * 1000) / 1000;
  }
  return summary;
}
