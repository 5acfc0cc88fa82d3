/**
 * Binary layouts of the repository's objects: blob entries (shared by pack headers and index
 * files), pack headers and index files. docs/mover.md describes the same layouts in prose.
 */
import { ID_BYTES } from './crypto.js';

/** What a blob holds: a block of volume data, or a page (a run of block ids of a manifest). */
export const BlobType = { Data: 0, Page: 1 } as const;
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

/** Bytes of one encoded entry: id, type, compression, 2 reserved, offset, length, raw length. */
export const ENTRY_BYTES = ID_BYTES + 16;
const PACK_MAGIC = Buffer.from('CSBSPAK1');
const INDEX_MAGIC = Buffer.from('CSBSIDX1');
/** Pack ids are 16 random bytes, written as 32 hex characters. */
export const PACK_ID_BYTES = 16;

function writeEntry(buf: Buffer, at: number, e: BlobEntry): void {
  e.id.copy(buf, at);
  buf[at + ID_BYTES] = e.type;
  buf[at + ID_BYTES + 1] = e.comp;
  buf.writeUInt16LE(0, at + ID_BYTES + 2);
  buf.writeUInt32LE(e.offset, at + ID_BYTES + 4);
  buf.writeUInt32LE(e.length, at + ID_BYTES + 8);
  buf.writeUInt32LE(e.rawLength, at + ID_BYTES + 12);
}

function readEntry(buf: Buffer, at: number): BlobEntry {
  return {
    // A view, not a copy: loading a large index allocates one object per entry, not two.
    id: buf.subarray(at, at + ID_BYTES),
    type: buf[at + ID_BYTES]!,
    comp: buf[at + ID_BYTES + 1]!,
    offset: buf.readUInt32LE(at + ID_BYTES + 4),
    length: buf.readUInt32LE(at + ID_BYTES + 8),
    rawLength: buf.readUInt32LE(at + ID_BYTES + 12),
  };
}

/** The plaintext of a pack header: magic, count, entries. Sealed and appended to the pack. */
export function encodePackHeader(entries: BlobEntry[]): Buffer {
  const buf = Buffer.alloc(PACK_MAGIC.length + 4 + entries.length * ENTRY_BYTES);
  PACK_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(entries.length, PACK_MAGIC.length);
  entries.forEach((e, i) => writeEntry(buf, PACK_MAGIC.length + 4 + i * ENTRY_BYTES, e));
  return buf;
}

/** Parses a pack header plaintext; throws on a malformed one. */
export function decodePackHeader(buf: Buffer): BlobEntry[] {
  if (!buf.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) throw new Error('bad pack header magic');
  const n = buf.readUInt32LE(PACK_MAGIC.length);
  if (buf.length !== PACK_MAGIC.length + 4 + n * ENTRY_BYTES) throw new Error('bad pack header length');
  return Array.from({ length: n }, (_, i) => readEntry(buf, PACK_MAGIC.length + 4 + i * ENTRY_BYTES));
}

/** One pack as an index file lists it. */
export interface IndexedPack {
  packId: string;
  size: number;
  entries: BlobEntry[];
}

/** The plaintext of an index file: magic, then per pack its id, size, entry count and entries. */
export function encodeIndex(packs: IndexedPack[]): Buffer {
  let total = INDEX_MAGIC.length;
  for (const p of packs) total += PACK_ID_BYTES + 8 + p.entries.length * ENTRY_BYTES;
  const buf = Buffer.alloc(total);
  INDEX_MAGIC.copy(buf, 0);
  let at = INDEX_MAGIC.length;
  for (const p of packs) {
    Buffer.from(p.packId, 'hex').copy(buf, at);
    buf.writeUInt32LE(p.size, at + PACK_ID_BYTES);
    buf.writeUInt32LE(p.entries.length, at + PACK_ID_BYTES + 4);
    at += PACK_ID_BYTES + 8;
    for (const e of p.entries) {
      writeEntry(buf, at, e);
      at += ENTRY_BYTES;
    }
  }
  return buf;
}

/** Parses an index file plaintext; throws on a malformed one. */
export function decodeIndex(buf: Buffer): IndexedPack[] {
  if (!buf.subarray(0, INDEX_MAGIC.length).equals(INDEX_MAGIC)) throw new Error('bad index magic');
  const packs: IndexedPack[] = [];
  let at = INDEX_MAGIC.length;
  while (at < buf.length) {
    if (at + PACK_ID_BYTES + 8 > buf.length) throw new Error('truncated index');
    const packId = buf.subarray(at, at + PACK_ID_BYTES).toString('hex');
    const size = buf.readUInt32LE(at + PACK_ID_BYTES);
    const n = buf.readUInt32LE(at + PACK_ID_BYTES + 4);
    at += PACK_ID_BYTES + 8;
    if (at + n * ENTRY_BYTES > buf.length) throw new Error('truncated index');
    const entries: BlobEntry[] = [];
    for (let i = 0; i < n; i++, at += ENTRY_BYTES) entries.push(readEntry(buf, at));
    packs.push({ packId, size, entries });
  }
  return packs;
}

/** The object key of a pack. */
export function packKey(packId: string): string {
  return `data/${packId.slice(0, 2)}/${packId}`;
}
