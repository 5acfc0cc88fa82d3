/**
 * The in-memory index: where every blob of the repository lives. A repository of a 1 TiB volume holds
 * ~16 M blobs, so entries are not objects: they are columns of typed arrays (the 32-byte id, pack,
 * offset, lengths, codec and type: 49 bytes each) in fixed-size segments, found through an
 * open-addressing hash table keyed by the id's first word (ids are keyed hashes, so evenly spread).
 * Segments mean growth never copies the entries (a contiguous array would briefly need three times
 * its size); `npm run bench index-memory` measures the cost per blob: ~70-80 bytes of RSS, against
 * ~380-410 for the Map of objects this replaced.
 *
 * Every entry of every indexed pack is kept, in pack order, so gc can rewrite a pack's index
 * entries as they were; the table points at the first entry seen for an id, whose location wins,
 * unless that copy is flagged bad ({@link BAD_COPY}): then any good copy wins over it.
 */
import { ID_BYTES } from './crypto.js';
import { BAD_COPY, type BlobEntry, type IndexedPack } from './format.js';

/** Where a blob lives, as the in-memory index keeps it. */
export interface BlobLocation {
  pack: number;
  offset: number;
  length: number;
  rawLength: number;
  comp: number;
  type: number;
}

const ID_WORDS = ID_BYTES / 4;
/** Empty slot marker in the hash table (slots hold entry numbers). */
const EMPTY = -1;

export class BlobIndex {
  readonly packIds: string[] = [];
  private readonly packSizes: number[] = [];
  /** Index objects already loaded, so a refresh reads only new ones. */
  readonly loadedFiles = new Set<string>();
  private readonly packNumbers = new Map<string, number>();
  /** Entries of pack p are [packStart[p], packStart[p] + packCount[p]). */
  private readonly packStart: number[] = [];
  private readonly packCount: number[] = [];

  private n = 0;
  private readonly segments: Segment[] = [];
  private table = new Int32Array(0);
  private distinct = 0;

  /**
   * Adds a pack's entries; the first good location of an id wins. A pack already indexed is not added
   * again, but the copies this listing flags bad are flagged in it too: flags are only ever added, so
   * the outcome does not depend on the order index objects are read in.
   */
  addPack(p: IndexedPack): void {
    if (this.packNumbers.has(p.packId)) {
      const bad = p.entries.filter((e) => (e.type & BAD_COPY) !== 0).map((e) => e.id);
      if (bad.length > 0) this.markBad(p.packId, bad);
      return;
    }
    const pack = this.packIds.length;
    this.packIds.push(p.packId);
    this.packSizes.push(p.size);
    this.packNumbers.set(p.packId, pack);
    this.packStart.push(this.n);
    this.packCount.push(p.entries.length);
    this.reserve(this.n + p.entries.length);
    for (const e of p.entries) {
      const i = this.n++;
      const seg = this.segments[i >>> SEGMENT_BITS]!;
      const k = i & SEGMENT_MASK;
      for (let w = 0; w < ID_WORDS; w++) seg.ids[k * ID_WORDS + w] = e.id.readUInt32LE(w * 4);
      seg.pack[k] = pack;
      seg.offset[k] = e.offset;
      seg.length[k] = e.length;
      seg.rawLength[k] = e.rawLength;
      seg.codec[k] = (e.comp & 0xf) | (e.type << 4);
      const slot = this.find(e.id);
      const held = this.table[slot]!;
      if (held === EMPTY) {
        this.table[slot] = i;
        this.distinct++;
      } else if (this.isBad(held) && !this.isBad(i)) this.table[slot] = i;
    }
  }

  /**
   * Flags the copies of `ids` in pack `packId` bad (in memory; `Repository.writeBadCopies` makes
   * it last); lookups then use another copy, or find none. Returns how many copies were newly flagged.
   */
  markBad(packId: string, ids: Buffer[]): number {
    const pack = this.packNumbers.get(packId);
    if (pack === undefined || ids.length === 0) return 0;
    const wanted = new Set(ids.map((id) => id.toString('latin1')));
    // Slots that pointed at a copy flagged now, by their id's first word: they need another copy.
    const stale = new Map<number, number[]>();
    let flagged = 0;
    const start = this.packStart[pack]!;
    for (let i = start; i < start + this.packCount[pack]!; i++) {
      if (this.isBad(i)) continue;
      const id = this.idOf(i);
      if (!wanted.has(id.toString('latin1'))) continue;
      this.segments[i >>> SEGMENT_BITS]!.codec[i & SEGMENT_MASK]! |= BAD_COPY << 4;
      flagged++;
      const slot = this.find(id);
      if (this.table[slot] !== i) continue;
      const word = this.idWord(i, 0);
      const slots = stale.get(word);
      if (slots) slots.push(slot);
      else stale.set(word, [slot]);
    }
    if (stale.size === 0) return flagged;
    // One pass over every entry: the table keeps no list of an id's other copies, and flags are rare.
    for (let j = 0; j < this.n; j++) {
      const slots = stale.get(this.idWord(j, 0));
      if (!slots || this.isBad(j)) continue;
      for (const slot of slots) {
        const held = this.table[slot]!;
        if (this.isBad(held) && this.sameEntry(held, j)) this.table[slot] = j;
      }
    }
    return flagged;
  }

  /** The location of a blob by its id (Buffer) or id key ({@link idKey}); bad copies are not returned. */
  get(id: Buffer | string): BlobLocation | undefined {
    if (this.distinct === 0) return undefined;
    const i = this.table[this.find(asId(id))]!;
    return i === EMPTY || this.isBad(i) ? undefined : this.location(i);
  }

  /** True when the index holds a copy of the blob that is not flagged bad. */
  has(id: Buffer | string): boolean {
    if (this.distinct === 0) return false;
    const i = this.table[this.find(asId(id))]!;
    return i !== EMPTY && !this.isBad(i);
  }

  /** Number of distinct blobs. */
  get size(): number {
    return this.distinct;
  }

  hasPack(packId: string): boolean {
    return this.packNumbers.has(packId);
  }

  /** A pack's entries as they were indexed, or undefined for a pack not in the index. */
  packEntries(packId: string): IndexedPack | undefined {
    const pack = this.packNumbers.get(packId);
    if (pack === undefined) return undefined;
    const entries: BlobEntry[] = [];
    const start = this.packStart[pack]!;
    for (let i = start; i < start + this.packCount[pack]!; i++) {
      const loc = this.location(i);
      entries.push({
        id: this.idOf(i),
        // With the bad flag: gc's rewritten index keeps it.
        type: loc.type | (this.isBad(i) ? BAD_COPY : 0),
        comp: loc.comp,
        offset: loc.offset,
        length: loc.length,
        rawLength: loc.rawLength,
      });
    }
    return { packId, size: this.packSizes[pack]!, entries };
  }

  private location(i: number): BlobLocation {
    const seg = this.segments[i >>> SEGMENT_BITS]!;
    const k = i & SEGMENT_MASK;
    return {
      pack: seg.pack[k]!,
      offset: seg.offset[k]!,
      length: seg.length[k]!,
      rawLength: seg.rawLength[k]!,
      comp: seg.codec[k]! & 0xf,
      type: (seg.codec[k]! >> 4) & ~BAD_COPY,
    };
  }

  private isBad(i: number): boolean {
    return ((this.segments[i >>> SEGMENT_BITS]!.codec[i & SEGMENT_MASK]! >> 4) & BAD_COPY) !== 0;
  }

  private sameEntry(i: number, j: number): boolean {
    for (let w = 0; w < ID_WORDS; w++) if (this.idWord(i, w) !== this.idWord(j, w)) return false;
    return true;
  }

  private idWord(i: number, w: number): number {
    return this.segments[i >>> SEGMENT_BITS]!.ids[(i & SEGMENT_MASK) * ID_WORDS + w]!;
  }

  private idOf(i: number): Buffer {
    const id = Buffer.allocUnsafe(ID_BYTES);
    for (let w = 0; w < ID_WORDS; w++) id.writeUInt32LE(this.idWord(i, w), w * 4);
    return id;
  }

  /** The slot holding `id`, or the empty slot where it would go (linear probing). */
  private find(id: Buffer): number {
    const mask = this.table.length - 1;
    const first = id.readUInt32LE(0);
    for (let slot = first & mask; ; slot = (slot + 1) & mask) {
      const i = this.table[slot]!;
      if (i === EMPTY) return slot;
      if (this.idWord(i, 0) === first && this.sameId(i, id)) return slot;
    }
  }

  private sameId(i: number, id: Buffer): boolean {
    for (let w = 1; w < ID_WORDS; w++) if (this.idWord(i, w) !== id.readUInt32LE(w * 4)) return false;
    return true;
  }

  /** Segments for `entries` entries, and a table at most half full (rebuilt twice as large). */
  private reserve(entries: number): void {
    while (this.segments.length * SEGMENT_SIZE < entries) this.segments.push(newSegment());
    if (entries * 2 <= this.table.length) return;
    let size = Math.max(2048, this.table.length);
    while (size < entries * 2) size *= 2;
    const old = this.table;
    this.table = new Int32Array(size).fill(EMPTY);
    const mask = size - 1;
    for (const i of old) {
      if (i === EMPTY) continue;
      let slot = this.idWord(i, 0) & mask;
      while (this.table[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.table[slot] = i;
    }
  }
}

/** Entries per segment: 64 Ki (3 MiB of columns). */
const SEGMENT_BITS = 16;
const SEGMENT_SIZE = 1 << SEGMENT_BITS;
const SEGMENT_MASK = SEGMENT_SIZE - 1;

/** One segment of the entry columns. */
interface Segment {
  ids: Uint32Array;
  pack: Uint32Array;
  offset: Uint32Array;
  length: Uint32Array;
  rawLength: Uint32Array;
  /** comp | type << 4 */
  codec: Uint8Array;
}

function newSegment(): Segment {
  return {
    ids: new Uint32Array(SEGMENT_SIZE * ID_WORDS),
    pack: new Uint32Array(SEGMENT_SIZE),
    offset: new Uint32Array(SEGMENT_SIZE),
    length: new Uint32Array(SEGMENT_SIZE),
    rawLength: new Uint32Array(SEGMENT_SIZE),
    codec: new Uint8Array(SEGMENT_SIZE),
  };
}

/** A 32-byte id from a Buffer or its latin1 key. */
function asId(id: Buffer | string): Buffer {
  return typeof id === 'string' ? Buffer.from(id, 'latin1') : id;
}
