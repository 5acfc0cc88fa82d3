/**
 * The pack writer: gathers sealed blobs into pack objects of about `packSize` bytes, uploads a
 * bounded number at a time, and writes each pack's index object right after the pack, so blobs
 * of an interrupted backup are reused by the next one.
 */
import { randomBytes } from 'node:crypto';
import { alignedBuffers } from '../aligned.js';
import { seal } from './crypto.js';
import { type BlobEntry, encodePackHeader, ENTRY_BYTES, PACK_ID_BYTES, packKey } from './format.js';
import { idKey, type Repository } from './repository.js';

/** Upload statistics of one writer. */
export interface PackStats {
  packs: number;
  bytes: number;
  writeSeconds: number;
}

/** A sealed blob to add to a pack. */
export interface NewBlob {
  id: Buffer;
  type: number;
  comp: number;
  rawLength: number;
  sealed: Uint8Array;
}

/** Entries per pack at most, so a pack header stays below {@link HEADER_RESERVE}. */
const MAX_ENTRIES = 16384;
const HEADER_RESERVE = MAX_ENTRIES * ENTRY_BYTES + 1024;
/** Largest blob a pack accepts beyond its target size (a block or a page, sealed). */
const MAX_BLOB = 16 << 20;

export class PackWriter {
  /**
   * Pack buffers: one being filled and the ones uploading; reused, so memory stays flat. Aligned,
   * so the directory backend can write them with O_DIRECT. Allocated on first use.
   */
  private free?: Buffer[];
  private readonly capacity: number;
  private current?: Buffer;
  private entries: BlobEntry[] = [];
  private size = 0;
  /** Ids added but not indexed yet: a block seen twice in one backup is stored once. */
  private readonly pending = new Set<string>();
  private readonly uploads = new Set<Promise<void>>();
  private readonly indexing = new Set<Promise<void>>();
  private failure: unknown;
  readonly stats: PackStats = { packs: 0, bytes: 0, writeSeconds: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly maxUploads = 2,
    private readonly onStored?: () => void,
  ) {
    const maxBlob = Math.min(MAX_BLOB, Math.max(repo.config.blockSize, repo.config.pageBlocks * 32) + 64);
    this.capacity = repo.config.packSize + maxBlob + HEADER_RESERVE;
  }

  /** True when the blob (`id`, whose {@link idKey} is `key`) is indexed or already queued by this writer. */
  has(id: Buffer, key: string): boolean {
    return this.pending.has(key) || this.repo.index.has(id);
  }

  private turn: Promise<void> = Promise.resolve();

  /** Copies a sealed blob into the current pack; resolves once there is room (bounded memory). */
  add(id: Buffer, type: number, comp: number, rawLength: number, sealed: Uint8Array): Promise<void> {
    return this.addAll([{ id, type, comp, rawLength, sealed }]);
  }

  /**
   * Adds blobs back to back, with no other caller's blobs between them: a chunk's blocks stay
   * neighbours in the pack, so a restore reads and writes them as one run.
   */
  addAll(blobs: NewBlob[]): Promise<void> {
    // Callers run concurrently: one batch at a time, in call order.
    const next = this.turn.then(async () => {
      for (const b of blobs) await this.addNow(b.id, b.type, b.comp, b.rawLength, b.sealed);
    });
    this.turn = next.catch(() => undefined);
    return next;
  }

  private async addNow(
    id: Buffer,
    type: number,
    comp: number,
    rawLength: number,
    sealed: Uint8Array,
  ): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.current) this.current = await this.takeBuffer();
    if (this.size + sealed.length > this.capacity - HEADER_RESERVE) await this.flush();
    if (!this.current) this.current = await this.takeBuffer();
    this.pending.add(idKey(id));
    this.entries.push({
      id: Buffer.from(id),
      type,
      comp,
      offset: this.size,
      length: sealed.length,
      rawLength,
    });
    this.current.set(sealed, this.size);
    this.size += sealed.length;
    if (this.size >= this.repo.config.packSize || this.entries.length >= MAX_ENTRIES) await this.flush();
  }

  private async takeBuffer(): Promise<Buffer> {
    this.free ??= alignedBuffers(this.maxUploads + 1, this.capacity);
    for (;;) {
      const buf = this.free.pop();
      if (buf) return buf;
      if (this.uploads.size === 0) throw new Error('pack writer: no buffer free and no upload running');
      await Promise.race(this.uploads);
      if (this.failure) throw this.failure;
    }
  }

  /** Starts uploading the current pack (if any); waits while too many uploads are running. */
  async flush(): Promise<void> {
    if (this.current && this.entries.length > 0) {
      const entries = this.entries;
      const buf = this.current;
      const header = seal(this.repo.dataKey, encodePackHeader(entries), Buffer.from('pack'));
      header.copy(buf, this.size);
      buf.writeUInt32LE(header.length, this.size + header.length);
      const body = buf.subarray(0, this.size + header.length + 4);
      this.current = undefined;
      this.entries = [];
      this.size = 0;
      const upload = this.upload(body, entries)
        .catch((err: unknown) => {
          this.failure ??= err;
        })
        .finally(() => {
          this.free!.push(buf);
          this.uploads.delete(upload);
        });
      this.uploads.add(upload);
    }
    while (this.uploads.size >= this.maxUploads) await Promise.race(this.uploads);
    if (this.failure) throw this.failure;
  }

  /** Uploads everything queued and waits for it. */
  async finish(): Promise<void> {
    await this.turn;
    await this.flush();
    await Promise.all(this.uploads);
    await Promise.all(this.indexing);
    if (this.failure) throw this.failure;
  }

  private async upload(body: Buffer, entries: BlobEntry[]): Promise<void> {
    const packId = randomBytes(PACK_ID_BYTES).toString('hex');
    const started = process.hrtime.bigint();
    await this.repo.backend.put(packKey(packId), body);
    const size = body.length;
    // The pack buffer is free once the pack is stored; its index object is written meanwhile.
    const indexing = this.repo
      .writeIndex(packId, [{ packId, size, entries }])
      .then(() => {
        this.stats.writeSeconds += Number(process.hrtime.bigint() - started) / 1e9;
        this.stats.packs++;
        this.stats.bytes += size;
        for (const e of entries) this.pending.delete(idKey(e.id));
        this.onStored?.();
      })
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.indexing.delete(indexing));
    this.indexing.add(indexing);
  }
}
