/**
 * Verify: every manifest's pages load and every block it lists is indexed in a pack that exists
 * and is large enough; with `readData` (a fraction of packs, 1 = all) the blobs are also read,
 * decrypted and re-hashed. Each bad block is reported with the manifests and offsets that use it,
 * and added to the repository's damaged record (the only thing verify writes), so the next backup
 * stores it again. Blocks recorded damaged earlier (by a restore, say) count as bad until then.
 */
import { randomInt } from 'node:crypto';
import { NotFoundError } from './backend/backend.js';
import { ownedBuffer, WorkerPool } from './pipeline/pool.js';
import { DECODE_META, type DecodeReply } from './pipeline/messages.js';
import { ID_BYTES } from './repository/crypto.js';
import { packKey } from './repository/format.js';
import { type BlobLocation, idFromKey, type Repository } from './repository/repository.js';
import { forEachBlock, forEachPage, listPacks, loadManifests } from './scan.js';

/** Options of {@link verify}. */
export interface VerifyOptions {
  /** Fraction (0..1] of packs to read and check blob by blob; undefined = metadata only. */
  readData?: number;
  workers?: number;
  onProgress?: (p: { phase: 'verify'; bytesDone: number; bytesTotal: number }) => void;
}

/** A bad block (or page) and where it is used. */
export interface BadBlob {
  block: string;
  pack?: string;
  reason: string;
  uses: { manifest: string; offset: number }[];
}

/** The result of {@link verify}. */
export interface VerifyResult {
  ok: boolean;
  manifests: number;
  blocksChecked: number;
  packsRead: number;
  bytesRead: number;
  bad: BadBlob[];
  /** Every manifest that uses a bad block or page, or cannot be read itself (sorted). */
  damagedManifests: string[];
  seconds: number;
}

/** Largest single read when checking a pack's blobs. */
const MAX_READ = 32 << 20;

/** Verifies the repository; changes nothing but the damaged record. */
export async function verify(repo: Repository, options: VerifyOptions = {}): Promise<VerifyResult> {
  const started = process.hrtime.bigint();
  const lock = await repo.lock('verify');
  try {
    await repo.loadIndex();
    const packs = await listPacks(repo);
    // Blocks of packs no index lists are not lost: the packs describe themselves.
    if ([...packs.keys()].some((p) => !repo.index.hasPack(p))) await repo.adoptOrphans();
    // Recorded bad copies are skipped: a good copy is checked instead, or the block counts as bad.
    const records = await repo.loadDamaged();
    repo.applyDamaged(records);
    const recorded = new Map(records.map((r) => [Buffer.from(r.blob, 'hex').toString('latin1'), r]));
    const bad = new Map<string, BadBlob>();
    const referenced = new Map<string, BlobLocation>();
    const markBad = (key: string, reason: string, pack?: string): void => {
      if (!bad.has(key))
        bad.set(key, { block: idFromKey(key).toString('hex'), ...(pack ? { pack } : {}), reason, uses: [] });
    };
    const check = (key: string): void => {
      if (referenced.has(key) || bad.has(key)) return;
      const loc = repo.index.get(key);
      const record = recorded.get(key);
      if (!loc && record) return markBad(key, `recorded damaged: ${record.reason}`, record.pack);
      if (!loc) return markBad(key, 'not in the index');
      const packId = repo.index.packIds[loc.pack]!;
      const size = packs.get(packId);
      if (size === undefined) return markBad(key, 'its pack is missing', packId);
      if (loc.offset + loc.length > size)
        return markBad(key, `its pack is truncated (${size} bytes)`, packId);
      referenced.set(key, loc);
    };

    const badManifests: BadBlob[] = [];
    const manifests = await loadManifests(repo, (id, err) =>
      badManifests.push({
        block: '',
        reason: `manifest ${id}: ${err.message}`,
        uses: [{ manifest: id, offset: 0 }],
      }),
    );
    const walk = async (record: boolean): Promise<void> => {
      for (const m of manifests) {
        await forEachPage(
          repo,
          m,
          (page, pageId, ids) => {
            const pageKey = Buffer.from(pageId, 'hex').toString('latin1');
            if (!record) check(pageKey);
            forEachBlock(m, page, ids, (key, offset) => {
              if (!record) check(key);
              else bad.get(key)?.uses.push({ manifest: m.id, offset });
            });
          },
          (page, pageId, err) => {
            const pageKey = Buffer.from(pageId, 'hex').toString('latin1');
            if (!record) markBad(pageKey, `page: ${err.message}`);
            else bad.get(pageKey)?.uses.push({ manifest: m.id, offset: page * m.pageBlocks * m.blockSize });
          },
        );
      }
    };
    await walk(false);

    let packsRead = 0;
    let bytesRead = 0;
    if (options.readData !== undefined && referenced.size > 0) {
      const byPack = new Map<number, [string, BlobLocation][]>();
      for (const [key, loc] of referenced) {
        const list = byPack.get(loc.pack);
        if (list) list.push([key, loc]);
        else byPack.set(loc.pack, [[key, loc]]);
      }
      let chosen = [...byPack.keys()];
      if (options.readData < 1) {
        // A random sample, so repeated partial verifies cover the whole repository over time.
        const want = Math.max(1, Math.ceil(chosen.length * options.readData));
        for (let i = chosen.length - 1; i > 0; i--) {
          const j = randomInt(i + 1);
          [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
        }
        chosen = chosen.slice(0, want);
      }
      const total = chosen.reduce((n, p) => n + byPack.get(p)!.reduce((s, [, l]) => s + l.length, 0), 0);
      const pool = new WorkerPool(
        {
          dataKey: repo.dataKey,
          idKey: repo.idKey,
          compression: repo.config.compression,
          compressionLevel: repo.config.compressionLevel,
        },
        { ...(options.workers ? { workers: options.workers } : {}), slots: 0, inputBytes: 0, outputBytes: 0 },
      );
      try {
        const inflight = new Set<Promise<void>>();
        let failure: unknown;
        const checkRange = async (packId: string, items: [string, BlobLocation][]): Promise<void> => {
          const start = items[0]![1].offset;
          const end = items[items.length - 1]![1].offset + items[items.length - 1]![1].length;
          let data: Buffer;
          try {
            data = ownedBuffer(await repo.backend.getRange(packKey(packId), start, end - start));
          } catch (err) {
            if (!(err instanceof NotFoundError)) throw err;
            for (const [key] of items) markBad(key, 'its pack is missing', packId);
            return;
          }
          bytesRead += data.length;
          const meta = new Int32Array(items.length * DECODE_META);
          const ids = Buffer.alloc(items.length * ID_BYTES);
          items.forEach(([key, loc], k) => {
            meta.set([0, loc.offset - start, loc.length, loc.comp, loc.rawLength, 0], k * DECODE_META);
            idFromKey(key).copy(ids, k * ID_BYTES);
          });
          const reply = await pool.run<DecodeReply>(
            { op: 'decode', task: pool.task(), sources: [{ data }], meta, ids },
            pool.pick(),
            [data.buffer as ArrayBuffer],
          );
          for (const f of reply.failures) markBad(items[f.item]![0], f.reason, packId);
          options.onProgress?.({ phase: 'verify', bytesDone: bytesRead, bytesTotal: total });
        };
        for (const pack of chosen) {
          const packId = repo.index.packIds[pack]!;
          const items = byPack.get(pack)!.sort((a, b) => a[1].offset - b[1].offset);
          packsRead++;
          for (let i = 0; i < items.length;) {
            let j = i + 1;
            while (
              j < items.length &&
              items[j]![1].offset + items[j]![1].length - items[i]![1].offset <= MAX_READ
            )
              j++;
            const p: Promise<void> = checkRange(packId, items.slice(i, j))
              .catch((err: unknown) => {
                failure ??= err;
              })
              .finally(() => inflight.delete(p));
            inflight.add(p);
            while (inflight.size >= pool.size * 2) await Promise.race(inflight);
            i = j;
          }
        }
        await Promise.all(inflight);
        if (failure !== undefined) throw failure;
      } finally {
        await pool.close().catch(() => undefined);
      }
    }
    if (bad.size > 0) await walk(true);
    const found: { blob: string; pack?: string; reason: string }[] = [];
    for (const [key, b] of bad) {
      if (recorded.has(key)) continue;
      const loc = b.pack ? undefined : repo.index.get(key);
      const pack = b.pack ?? (loc ? repo.index.packIds[loc.pack] : undefined);
      found.push({ blob: b.block, ...(pack ? { pack } : {}), reason: b.reason });
    }
    // Best effort: a storage failure here must not turn "corrupt" (exit 5) into something else.
    await repo.recordDamaged(found, 'verify').catch(() => undefined);
    const list = [...badManifests, ...bad.values()];
    const damagedManifests = new Set(list.flatMap((b) => b.uses.map((u) => u.manifest)));
    return {
      ok: list.length === 0,
      manifests: manifests.length,
      blocksChecked: referenced.size,
      packsRead,
      bytesRead,
      bad: list,
      damagedManifests: [...damagedManifests].sort(),
      seconds: Math.round(Number(process.hrtime.bigint() - started) / 1e6) / 1000,
    };
  } finally {
    await lock.release().catch(() => undefined);
  }
}
