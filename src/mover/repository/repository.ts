/**
 * The repository: its config, key wrapping, blob index, manifests and locks on top of a
 * {@link Backend}. Layout (docs/mover.md): `config`, `keys/<id>`, `data/<xx>/<pack>`,
 * `index/<name>`, `manifests/<id>`, `locks/<id>`, `damaged/<blob>`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Backend, NotFoundError } from '../backend/backend.js';
import { BlobIndex, type BlobLocation } from './blob-index.js';
import { MoverError } from '../errors.js';
import { BlobCompressor, type CompressionName, decompressBlob } from './codec.js';
import {
  AuthError,
  blobId,
  deriveKek,
  ID_BYTES,
  KEY_BYTES,
  type KdfParams,
  newKdfParams,
  open,
  seal,
} from './crypto.js';
import {
  type BlobEntry,
  indexPacks,
  decodePackHeader,
  encodeIndex,
  type IndexedPack,
  packKey,
} from './format.js';

/** The repository's parameters, fixed at init and stored sealed in `config`. */
export interface RepoConfig {
  /** The repository format ({@link REPOSITORY_FORMAT}); a csbs reads only its own. */
  version: number;
  id: string;
  blockSize: number;
  packSize: number;
  /** Block ids per manifest page. */
  pageBlocks: number;
  compression: CompressionName;
  compressionLevel: number;
  hash: 'blake3-keyed';
  cipher: 'aes-256-gcm';
  created: string;
}

/** Index objects read at a time by {@link Repository.loadIndex}. */
const INDEX_READERS = 8;

/**
 * The on-storage format this csbs writes and reads: 2 since pack headers and index objects hold
 * compressed entry tables (`format.ts`).
 */
export const REPOSITORY_FORMAT = 2;

/** Defaults for `init`; docs/mover.md explains how they were chosen. */
export const DEFAULT_BLOCK_SIZE = 65536;
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_PAGE_BLOCKS = 256;
export const DEFAULT_ZSTD_LEVEL = 1;

/** Options of {@link Repository.init}. */
export interface InitOptions {
  blockSize?: number;
  packSize?: number;
  compression?: CompressionName;
  compressionLevel?: number;
}

export { BlobIndex, type BlobLocation };

/** A compact Map key for a 32-byte id (one latin1 character per byte). */
export function idKey(id: Uint8Array): string {
  // Called per block on every hot path: skip the Buffer view when `id` already is one.
  return (Buffer.isBuffer(id) ? id : Buffer.from(id.buffer, id.byteOffset, id.byteLength)).toString('latin1');
}

/** The inverse of {@link idKey}. */
export function idFromKey(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** A manifest: one backup of one volume, restorable on its own from its pages. */
export interface Manifest {
  version: 1;
  id: string;
  time: string;
  type: 'Full' | 'Incremental';
  parent?: string;
  source: string;
  sizeBytes: number;
  blockSize: number;
  pageBlocks: number;
  /** Page ids (hex), in volume order; page i lists blocks [i*pageBlocks, (i+1)*pageBlocks). */
  pages: string[];
  tags: Record<string, string>;
  summary: Record<string, unknown>;
}

/**
 * One entry of the damaged record, the object `damaged/<blob>`: verify or restore found this blob's
 * copy corrupt or missing, and no backup has written it again yet.
 */
export interface DamagedBlob {
  /** The blob's id (hex). */
  blob: string;
  /** The pack holding the bad copy, when the index named one. */
  pack?: string;
  reason: string;
  by: 'verify' | 'restore';
  /** When it was found (RFC 3339). */
  found: string;
}

/** Damaged-record objects read or written at a time. */
const DAMAGED_IO = 8;

/** A lock object: a running backup (or gc, delete) announcing itself to gc. */
export interface LockInfo {
  id: string;
  kind: 'backup' | 'restore' | 'verify' | 'gc';
  created: string;
  refreshed: string;
  host: string;
  pid: number;
}

/** Locks are refreshed this often and count as stale (their process died) after LOCK_STALE_MS. */
export const LOCK_REFRESH_MS = 60_000;
export const LOCK_STALE_MS = 10 * 60_000;

/** A held lock; {@link release} deletes it. */
export interface HeldLock {
  info: LockInfo;
  release(): Promise<void>;
}

interface KeyFile {
  version: 1;
  kdf: 'scrypt';
  params: KdfParams;
  wrapped: string;
  created: string;
}

const aad = (s: string): Buffer => Buffer.from(s);

/** An opened repository: config and keys are loaded, the index on demand. */
export class Repository {
  readonly index = new BlobIndex();

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
    readonly dataKey: Buffer,
    readonly idKey: Buffer,
  ) {}

  /** Creates a repository; with `ifMissing`, an existing one opened with the right key is fine. */
  static async init(
    backend: Backend,
    secret: Buffer,
    options: InitOptions & { ifMissing?: boolean },
  ): Promise<{ repo: Repository; created: boolean }> {
    if (await backend.stat('config')) {
      if (!options.ifMissing) {
        throw new MoverError(
          'Usage',
          `a repository already exists at ${backend.location} (pass --if-missing to accept it)`,
        );
      }
      return { repo: await Repository.open(backend, secret), created: false };
    }
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (
      !Number.isInteger(blockSize) ||
      blockSize < 4096 ||
      blockSize > 16 << 20 ||
      (blockSize & (blockSize - 1)) !== 0
    ) {
      throw new MoverError(
        'Usage',
        `--block-size must be a power of two from 4096 to 16Mi, got ${blockSize}`,
      );
    }
    const config: RepoConfig = {
      version: REPOSITORY_FORMAT,
      id: randomBytes(16).toString('hex'),
      blockSize,
      packSize: options.packSize ?? DEFAULT_PACK_SIZE,
      pageBlocks: DEFAULT_PAGE_BLOCKS,
      compression: options.compression ?? 'zstd',
      compressionLevel: options.compressionLevel ?? DEFAULT_ZSTD_LEVEL,
      hash: 'blake3-keyed',
      cipher: 'aes-256-gcm',
      created: new Date().toISOString(),
    };
    const dataKey = randomBytes(KEY_BYTES);
    const idKey = randomBytes(KEY_BYTES);
    const params = newKdfParams();
    const kek = await deriveKek(secret, params);
    const keyFile: KeyFile = {
      version: 1,
      kdf: 'scrypt',
      params,
      wrapped: seal(kek, Buffer.concat([dataKey, idKey]), aad('csbs-key')).toString('base64'),
      created: config.created,
    };
    // The key first, the config last: `config` is what makes the repository exist.
    await backend.put(`keys/${randomBytes(8).toString('hex')}`, Buffer.from(JSON.stringify(keyFile)));
    await backend.put('config', seal(dataKey, Buffer.from(JSON.stringify(config)), aad('config')));
    return { repo: new Repository(backend, config, dataKey, idKey), created: true };
  }

  /** Opens an existing repository; a wrong secret fails with WrongKey (exit 3), changing nothing. */
  static async open(backend: Backend, secret: Buffer): Promise<Repository> {
    let sealedConfig: Buffer;
    try {
      sealedConfig = await backend.get('config');
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new MoverError(
          'NotFound',
          `no repository at ${backend.location} (create it with "csbs mover init")`,
        );
      }
      throw err;
    }
    for await (const obj of backend.list('keys/')) {
      const keyFile = JSON.parse((await backend.get(obj.key)).toString()) as KeyFile;
      const kek = await deriveKek(secret, keyFile.params);
      let keys: Buffer;
      try {
        keys = open(kek, Buffer.from(keyFile.wrapped, 'base64'), aad('csbs-key'));
      } catch (err) {
        if (err instanceof AuthError) continue;
        throw err;
      }
      const dataKey = keys.subarray(0, KEY_BYTES);
      const config = JSON.parse(open(dataKey, sealedConfig, aad('config')).toString()) as RepoConfig;
      if (config.version !== REPOSITORY_FORMAT)
        throw new MoverError(
          'Usage',
          `the repository at ${backend.location} has format ${config.version}, and this csbs reads format ${REPOSITORY_FORMAT} only: ` +
            'use the csbs version that created it, or back up into a new repository',
        );
      return new Repository(backend, config, dataKey, keys.subarray(KEY_BYTES, 2 * KEY_BYTES));
    }
    throw new MoverError(
      'WrongKey',
      `the repository key does not open ${backend.location} (check CSBS_REPOSITORY_KEY or --key-file)`,
    );
  }

  /** Loads index objects not loaded yet (all of them the first time). */
  async loadIndex(): Promise<void> {
    const keys: string[] = [];
    for await (const obj of this.backend.list('index/')) {
      if (!this.index.loadedFiles.has(obj.key)) keys.push(obj.key);
    }
    const read = async (key: string): Promise<Buffer | undefined> => {
      try {
        return open(this.dataKey, await this.backend.get(key), aad('index'));
      } catch (err) {
        // gc may replace index objects while we list: a vanished one is covered by its successor.
        if (err instanceof NotFoundError) return undefined;
        if (err instanceof AuthError)
          throw new MoverError('Corrupt', `index object ${key} fails authentication`);
        throw err;
      }
    };
    // Several reads at a time (each is a round trip on S3), added in listing order, so which copy of
    // a blob wins does not depend on read timing, and decoded one pack at a time (bounded memory).
    const reads: Promise<Buffer | undefined>[] = [];
    let next = 0;
    for (const key of keys) {
      while (next < keys.length && reads.length < INDEX_READERS) {
        const p = read(keys[next++]!);
        p.catch(() => undefined); // awaited below, in order
        reads.push(p);
      }
      const plain = await reads.shift()!;
      if (!plain) continue;
      for (const p of indexPacks(plain)) this.index.addPack(p);
      this.index.loadedFiles.add(key);
    }
  }

  /** Writes an index object listing `packs` under `index/<name>`. */
  async writeIndex(name: string, packs: Iterable<IndexedPack>): Promise<string> {
    const key = `index/${name}`;
    // Packs may come one at a time (gc rewrites the whole index from the compact one): only those
    // not indexed yet are kept, to add once the object is stored.
    const fresh: IndexedPack[] = [];
    const index = this.index;
    const plain = encodeIndex(
      (function* () {
        for (const p of packs) {
          if (!index.hasPack(p.packId)) fresh.push(p);
          yield p;
        }
      })(),
    );
    await this.backend.put(key, seal(this.dataKey, plain, aad('index')));
    this.index.loadedFiles.add(key);
    for (const p of fresh) this.index.addPack(p);
    return key;
  }

  /**
   * Makes the in-memory bad flags of `packIds` last: writes an index object listing those packs again,
   * flags included. Index objects are merged on load (a flag in any of them counts), and gc carries
   * flags into the index it writes, so the bad copies never win a lookup again.
   */
  async writeBadCopies(packIds: Iterable<string>): Promise<void> {
    const packs: IndexedPack[] = [];
    for (const packId of new Set(packIds)) {
      const p = this.index.packEntries(packId);
      if (p) packs.push(p);
    }
    if (packs.length > 0) await this.writeIndex(`repair-${randomBytes(8).toString('hex')}`, packs);
  }

  /**
   * Adds blobs to the damaged record. One object per blob: each writer puts only its own keys, so
   * concurrent verifies, restores and backups never lose each other's entries, where one shared
   * object would need a read-modify-write that S3 cannot make atomic. A blob recorded before keeps
   * the pack its first record named (a later reader may find the copy already flagged, no pack).
   */
  async recordDamaged(blobs: Omit<DamagedBlob, 'by' | 'found'>[], by: DamagedBlob['by']): Promise<void> {
    const found = new Date().toISOString();
    // A block used at several offsets is reported once per offset: one write per blob.
    const unique = [...new Map(blobs.map((b) => [b.blob, b])).values()];
    await eachLimited(unique, DAMAGED_IO, async (b) => {
      const before = b.pack ? undefined : await this.readDamaged(`damaged/${b.blob}`);
      const record: DamagedBlob = { ...b, ...(before?.pack ? { pack: before.pack } : {}), by, found };
      await this.backend.put(
        `damaged/${b.blob}`,
        seal(this.dataKey, Buffer.from(JSON.stringify(record)), aad(`damaged:${b.blob}`)),
      );
    });
  }

  /** The damaged record: every blob found bad and not written again since. */
  async loadDamaged(): Promise<DamagedBlob[]> {
    const keys: string[] = [];
    for await (const obj of this.backend.list('damaged/')) keys.push(obj.key);
    const out: DamagedBlob[] = [];
    await eachLimited(keys, DAMAGED_IO, async (key) => {
      const record = await this.readDamaged(key);
      if (record) out.push(record);
    });
    return out;
  }

  /** Removes repaired blobs (hex ids) from the damaged record. */
  async clearDamaged(blobs: Iterable<string>): Promise<void> {
    await eachLimited([...blobs], DAMAGED_IO, (blob) => this.backend.delete(`damaged/${blob}`));
  }

  /** Flags the recorded bad copies in the in-memory index, so lookups use good copies or none. */
  applyDamaged(records: DamagedBlob[]): void {
    const byPack = new Map<string, Buffer[]>();
    for (const r of records) {
      if (!r.pack) continue;
      const ids = byPack.get(r.pack);
      if (ids) ids.push(Buffer.from(r.blob, 'hex'));
      else byPack.set(r.pack, [Buffer.from(r.blob, 'hex')]);
    }
    for (const [packId, ids] of byPack) this.index.markBad(packId, ids);
  }

  private async readDamaged(key: string): Promise<DamagedBlob | undefined> {
    const blob = key.slice('damaged/'.length);
    if (!/^[0-9a-f]{64}$/.test(blob)) return undefined;
    try {
      return JSON.parse(
        open(this.dataKey, await this.backend.get(key), aad(`damaged:${blob}`)).toString(),
      ) as DamagedBlob;
    } catch (err) {
      // Cleared meanwhile, or unreadable: the blob is then found again by the next verify or restore.
      if (err instanceof NotFoundError || err instanceof AuthError || err instanceof SyntaxError)
        return undefined;
      throw err;
    }
  }

  /** Pack id -> stored size, from the `data/` listing. */
  async listPacks(): Promise<Map<string, number>> {
    const packs = new Map<string, number>();
    for await (const obj of this.backend.list('data/')) {
      const name = obj.key.slice(obj.key.lastIndexOf('/') + 1);
      if (/^[0-9a-f]{32}$/.test(name)) packs.set(name, obj.size);
    }
    return packs;
  }

  /** Reads a pack's own header (its trailer says where it starts): the blobs it holds. */
  async readPackHeader(packId: string, size: number): Promise<IndexedPack> {
    const key = packKey(packId);
    if (size < 4) throw new MoverError('Corrupt', `pack ${packId} is truncated`);
    const trailer = await this.backend.getRange(key, size - 4, 4);
    const headerLength = trailer.readUInt32LE(0);
    if (headerLength + 4 > size) throw new MoverError('Corrupt', `pack ${packId} has a bad header length`);
    const sealed = await this.backend.getRange(key, size - 4 - headerLength, headerLength);
    try {
      return { packId, size, entries: decodePackHeader(open(this.dataKey, sealed, aad('pack'))) };
    } catch (err) {
      throw new MoverError('Corrupt', `pack ${packId} header: ${(err as Error).message}`);
    }
  }

  private adopting?: Promise<number>;

  /**
   * Adds packs that no index object lists (an interrupted backup, or garbage a deferred gc left) to
   * the in-memory index from their own headers. Called when a blob is missing; runs once per process.
   */
  adoptOrphans(): Promise<number> {
    this.adopting ??= (async () => {
      await this.loadIndex();
      let adopted = 0;
      for (const [packId, size] of await this.listPacks()) {
        if (this.index.hasPack(packId)) continue;
        try {
          this.index.addPack(await this.readPackHeader(packId, size));
          adopted++;
        } catch (err) {
          if (!(err instanceof NotFoundError) && !(err instanceof MoverError)) throw err;
        }
      }
      return adopted;
    })();
    return this.adopting;
  }

  /** The location of a blob, looking into unindexed packs when the index lacks it. */
  async locate(id: Buffer | string): Promise<BlobLocation | undefined> {
    const loc = this.index.get(id);
    if (loc) return loc;
    await this.adoptOrphans();
    return this.index.get(id);
  }

  /** Seals a blob's (possibly compressed) plaintext, binding it to its id. */
  sealBlob(id: Buffer, bytes: Buffer): Buffer {
    return seal(this.dataKey, bytes, id);
  }

  /** Decrypts, decompresses and re-hashes a sealed blob; throws a Corrupt MoverError on any mismatch. */
  openBlob(id: Buffer, loc: BlobLocation, sealed: Buffer): Buffer {
    let plain: Buffer;
    try {
      plain = decompressBlob(loc.comp, open(this.dataKey, sealed, id));
    } catch (err) {
      throw new MoverError(
        'Corrupt',
        `blob ${id.toString('hex')} in pack ${this.index.packIds[loc.pack]}: ${(err as Error).message}`,
      );
    }
    if (plain.length !== loc.rawLength || !blobId(this.idKey, plain).equals(id)) {
      throw new MoverError(
        'Corrupt',
        `blob ${id.toString('hex')} in pack ${this.index.packIds[loc.pack]}: content does not match its id`,
      );
    }
    return plain;
  }

  /** Reads one blob through the index (used for pages; volume data goes through the pipeline). */
  async readBlob(id: Buffer): Promise<Buffer> {
    const loc = await this.locate(id);
    if (!loc) throw new MoverError('Corrupt', `blob ${id.toString('hex')} is not in the index`);
    const packId = this.index.packIds[loc.pack]!;
    let sealed: Buffer;
    try {
      sealed = await this.backend.getRange(packKey(packId), loc.offset, loc.length);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new MoverError('Corrupt', `pack ${packId} holding blob ${id.toString('hex')} is missing`);
      throw err;
    }
    return this.openBlob(id, loc, sealed);
  }

  /** A compressor configured as the repository says (one per thread). */
  newCompressor(): BlobCompressor {
    return new BlobCompressor(this.config.compression, this.config.compressionLevel);
  }

  /** Ids of all manifests. */
  async listManifestIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const obj of this.backend.list('manifests/')) ids.push(obj.key.slice('manifests/'.length));
    return ids.sort();
  }

  /** Loads a manifest; an unknown id fails with NotFound (exit 4). */
  async loadManifest(id: string): Promise<Manifest> {
    if (!/^[0-9a-zA-Z_-]{1,64}$/.test(id))
      throw new MoverError('NotFound', `manifest ${JSON.stringify(id)} not found: not a manifest id`);
    let sealed: Buffer;
    try {
      sealed = await this.backend.get(`manifests/${id}`);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new MoverError('NotFound', `manifest ${id} not found in ${this.backend.location}`);
      throw err;
    }
    try {
      return JSON.parse(open(this.dataKey, sealed, aad(`manifest:${id}`)).toString()) as Manifest;
    } catch (err) {
      if (err instanceof AuthError) throw new MoverError('Corrupt', `manifest ${id} fails authentication`);
      throw err;
    }
  }

  /** Writes a manifest: the last write of a backup, which makes it exist. */
  async saveManifest(m: Manifest): Promise<void> {
    await this.backend.put(
      `manifests/${m.id}`,
      seal(this.dataKey, Buffer.from(JSON.stringify(m)), aad(`manifest:${m.id}`)),
    );
  }

  async deleteManifest(id: string): Promise<void> {
    await this.backend.delete(`manifests/${id}`);
  }

  /** Loads the block ids of page `pageId` (hex). */
  async loadPage(pageId: string): Promise<Buffer> {
    const page = await this.readBlob(Buffer.from(pageId, 'hex'));
    if (page.length % ID_BYTES !== 0) throw new MoverError('Corrupt', `page ${pageId} has a bad length`);
    return page;
  }

  /** Writes a lock and keeps it fresh until released. */
  async lock(kind: LockInfo['kind']): Promise<HeldLock> {
    const now = new Date().toISOString();
    const info: LockInfo = {
      id: randomBytes(8).toString('hex'),
      kind,
      created: now,
      refreshed: now,
      host: hostname(),
      pid: process.pid,
    };
    const key = `locks/${info.id}`;
    const write = (): Promise<void> =>
      this.backend.put(key, seal(this.dataKey, Buffer.from(JSON.stringify(info)), aad('lock')));
    await write();
    const timer = setInterval(() => {
      info.refreshed = new Date().toISOString();
      write().catch(() => undefined);
    }, LOCK_REFRESH_MS);
    timer.unref();
    return {
      info,
      release: async () => {
        clearInterval(timer);
        await this.backend.delete(key);
      },
    };
  }

  /** Locks whose holder is alive: refreshed recently, and (on this host) its process exists. */
  async liveLocks(now = Date.now()): Promise<LockInfo[]> {
    const live: LockInfo[] = [];
    for await (const obj of this.backend.list('locks/')) {
      let info: LockInfo;
      try {
        info = JSON.parse(
          open(this.dataKey, await this.backend.get(obj.key), aad('lock')).toString(),
        ) as LockInfo;
      } catch {
        continue; // released meanwhile, or unreadable: neither protects anything
      }
      if (now - Date.parse(info.refreshed) > LOCK_STALE_MS) continue;
      if (info.host === hostname() && info.pid !== process.pid && !processAlive(info.pid)) continue;
      live.push(info);
    }
    return live;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time (each is a round trip on S3). */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Blob entries of a pack, as the pack writer hands them to the index. */
export type { BlobEntry };
