/**
 * Binary layouts of the repository's objects: blob entries (shared by pack headers and index
 * files), pack headers and index files. docs/mover.md describes the same layouts in prose.
 */
import { createRequire } from 'node:module';
import { ID_BYTES } from './crypto.js';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as typeof import('zstd-napi');

/** What a blob holds: a block of volume data, or a page (a run of block ids of a manifest). */
export const BlobType = { Data: 0, Page: 1 } as const;
/**
 * A flag on an entry's type, in index objects only (never in pack headers): this copy of the blob is
 * known to be bad, and a good copy was written elsewhere. Lookups skip it; gc keeps it, so the bad
 * copy never wins again (docs/mover.md, "Healing").
 */
export const BAD_COPY = 0x8;
/** How a blob's plaintext was compressed before sealing (recorded per blob). */
export const Compression = { None: 0, Zstd: 1, Lz4: 2 } as const;

/** Where one blob lives: its sealed bytes are `length` bytes at `offset` of pack `packId`. */
export interface BlobEntry {
  id: Buffer;
  type: number;
  comp: number;
  offset: number;
  length: number;
  rawLength: number;
}

/**
 * Most bytes one entry takes in a pack header or an index object: its id (32) plus the columns
 * (type and compression 1, sealed and raw length 4 each) before compression, with room to spare.
 */
export const ENTRY_BYTES = ID_BYTES + 16;
const PACK_MAGIC = Buffer.from('CSBSPAK2');
const INDEX_MAGIC = Buffer.from('CSBSIDX2');
/** Pack ids are 16 random bytes, written as 32 hex characters. */
export const PACK_ID_BYTES = 16;

/*
 * A pack's entry table, in pack headers and index objects alike: the ids back to back, then the
 * other fields column by column (type | compression << 4, sealed lengths, raw lengths), zstd
 * compressed. Offsets are not stored: blobs lie back to back from the start of the pack, in table
 * order. Ids are random and do not compress; the columns nearly vanish (most blocks have the same
 * raw and sealed lengths), so a table costs 33-34 bytes per blob instead of 48.
 */
function encodeTable(entries: BlobEntry[]): Buffer[] {
  const n = entries.length;
  const ids = Buffer.allocUnsafe(n * ID_BYTES);
  const columns = Buffer.allocUnsafe(n * 9);
  let offset = 0;
  entries.forEach((e, i) => {
    if (e.offset !== offset) throw new Error(`pack entry ${i} is at ${e.offset}, expected ${offset}`);
    offset += e.length;
    e.id.copy(ids, i * ID_BYTES);
    columns[i] = e.type | (e.comp << 4);
    columns.writeUInt32LE(e.length, n + i * 4);
    columns.writeUInt32LE(e.rawLength, 5 * n + i * 4);
  });
  const packed = zstd.compress(columns, { compressionLevel: 3 });
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32LE(n, 0);
  head.writeUInt32LE(packed.length, 4);
  return [head, ids, packed];
}

/** Reads a table written by {@link encodeTable} at `at`; returns its entries and where it ends. */
function decodeTable(buf: Buffer, at: number): { entries: BlobEntry[]; end: number } {
  if (at + 8 > buf.length) throw new Error('truncated entry table');
  const n = buf.readUInt32LE(at);
  const packedLength = buf.readUInt32LE(at + 4);
  const idsAt = at + 8;
  const end = idsAt + n * ID_BYTES + packedLength;
  if (end > buf.length) throw new Error('truncated entry table');
  const columns = zstd.decompress(buf.subarray(idsAt + n * ID_BYTES, end));
  if (columns.length !== n * 9) throw new Error('bad entry table columns');
  const entries: BlobEntry[] = new Array<BlobEntry>(n);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const length = columns.readUInt32LE(n + i * 4);
    entries[i] = {
      // A view, not a copy: loading a large index allocates one object per entry, not two.
      id: buf.subarray(idsAt + i * ID_BYTES, idsAt + (i + 1) * ID_BYTES),
      type: columns[i]! & 0x0f,
      comp: columns[i]! >> 4,
      offset,
      length,
      rawLength: columns.readUInt32LE(5 * n + i * 4),
    };
    offset += length;
  }
  return { entries, end };
}

/** The plaintext of a pack header: magic, then the entry table. Sealed and appended to the pack. */
export function encodePackHeader(entries: BlobEntry[]): Buffer {
  return Buffer.concat([PACK_MAGIC, ...encodeTable(entries)]);
}

/** Parses a pack header plaintext; throws on a malformed one. */
export function decodePackHeader(buf: Buffer): BlobEntry[] {
  if (!buf.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) throw new Error('bad pack header magic');
  const { entries, end } = decodeTable(buf, PACK_MAGIC.length);
  if (end !== buf.length) throw new Error('bad pack header length');
  return entries;
}

/** One pack as an index file lists it. */
export interface IndexedPack {
  packId: string;
  size: number;
  entries: BlobEntry[];
}

/** The plaintext of an index file: magic, then per pack its id, size and entry table. */
export function encodeIndex(packs: Iterable<IndexedPack>): Buffer {
  const parts: Buffer[] = [INDEX_MAGIC];
  for (const p of packs) {
    const head = Buffer.allocUnsafe(PACK_ID_BYTES + 4);
    Buffer.from(p.packId, 'hex').copy(head, 0);
    head.writeUInt32LE(p.size, PACK_ID_BYTES);
    parts.push(head, ...encodeTable(p.entries));
  }
  return Buffer.concat(parts);
}

/**
 * The packs of an index object's plaintext one at a time, so a large (gc-written) object never has
 * all its entries decoded at once; throws on a malformed one.
 */
export function* indexPacks(buf: Buffer): Generator<IndexedPack> {
  if (!buf.subarray(0, INDEX_MAGIC.length).equals(INDEX_MAGIC)) throw new Error('bad index magic');
  let at = INDEX_MAGIC.length;
  while (at < buf.length) {
    if (at + PACK_ID_BYTES + 4 > buf.length) throw new Error('truncated index');
    const packId = buf.subarray(at, at + PACK_ID_BYTES).toString('hex');
    const size = buf.readUInt32LE(at + PACK_ID_BYTES);
    const { entries, end } = decodeTable(buf, at + PACK_ID_BYTES + 4);
    yield { packId, size, entries };
    at = end;
  }
}

/** The object key of a pack. */
export function packKey(packId: string): string {
  return `data/${packId.slice(0, 2)}/${packId}`;
}
