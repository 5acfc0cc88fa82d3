/**
 * The pack writer: gathers sealed blobs into pack objects of about `packSize` bytes, uploads a
 * bounded number at a time, and writes each pack's index object right after the pack, so blobs
 * of an interrupted backup are reused by the next one.
 */
import { randomBytes } from 'node:crypto';
import { seal } from './crypto.js';
import { type BlobEntry, encodePackHeader, PACK_ID_BYTES, packKey } from './format.js';
import { idKey, type Repository } from './repository.js';

/** Upload statistics of one writer. */
export interface PackStats {
  packs: number;
  bytes: number;
  writeSeconds: number;
}

export class PackWriter {
  private parts: Buffer[] = [];
  private entries: BlobEntry[] = [];
  private size = 0;
  /** Ids added but not indexed yet: a block seen twice in one backup is stored once. */
  private readonly pending = new Set<string>();
  private readonly uploads = new Set<Promise<void>>();
  private failure: unknown;
  readonly stats: PackStats = { packs: 0, bytes: 0, writeSeconds: 0 };

  constructor(
    private readonly repo: Repository,
    private readonly maxUploads = 2,
    private readonly onStored?: () => void,
  ) {}

  /** True when the blob is indexed or already queued by this writer. */
  has(key: string): boolean {
    return this.pending.has(key) || this.repo.index.has(key);
  }

  /** Queues a sealed blob; resolves once there is room (bounded memory). */
  async add(id: Buffer, type: number, comp: number, rawLength: number, sealed: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.pending.add(idKey(id));
    this.entries.push({ id, type, comp, offset: this.size, length: sealed.length, rawLength });
    this.parts.push(sealed);
    this.size += sealed.length;
    if (this.size >= this.repo.config.packSize) await this.flush();
  }

  /** Starts uploading the current pack (if any); waits while too many uploads are running. */
  async flush(): Promise<void> {
    if (this.entries.length > 0) {
      const entries = this.entries;
      const header = seal(this.repo.dataKey, encodePackHeader(entries), Buffer.from('pack'));
      const trailer = Buffer.alloc(4);
      trailer.writeUInt32LE(header.length);
      const body = Buffer.concat([...this.parts, header, trailer]);
      this.parts = [];
      this.entries = [];
      this.size = 0;
      const upload = this.upload(body, entries).catch((err: unknown) => {
        this.failure ??= err;
      });
      this.uploads.add(upload);
      void upload.finally(() => this.uploads.delete(upload));
    }
    while (this.uploads.size >= this.maxUploads) await Promise.race(this.uploads);
    if (this.failure) throw this.failure;
  }

  /** Uploads everything queued and waits for it. */
  async finish(): Promise<void> {
    await this.flush();
    await Promise.all(this.uploads);
    if (this.failure) throw this.failure;
  }

  private async upload(body: Buffer, entries: BlobEntry[]): Promise<void> {
    const packId = randomBytes(PACK_ID_BYTES).toString('hex');
    const started = process.hrtime.bigint();
    await this.repo.backend.put(packKey(packId), body);
    await this.repo.writeIndex(packId, [{ packId, size: body.length, entries }]);
    this.stats.writeSeconds += Number(process.hrtime.bigint() - started) / 1e9;
    this.stats.packs++;
    this.stats.bytes += body.length;
    for (const e of entries) this.pending.delete(idKey(e.id));
    this.onStored?.();
  }
}
