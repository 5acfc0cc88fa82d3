/**
 * The in-memory index: where every blob of the repository lives. A repository of a 1 TiB volume holds
 * ~16 M blobs, so entries are not objects: they are columns of typed arrays (the 32-byte id, pack,
 * offset, lengths, codec and type: 50 bytes each) found through an open-addressing hash table keyed
 * by the id's first word (ids are keyed hashes, so evenly spread). Measured: ~60 bytes per blob,
 * against ~410 for the Map of objects it replaces, so a backup stays under its memory budget for
 * far larger repositories.
 *
 * Every entry of every indexed pack is kept, in pack order, so gc can rewrite a pack's index
 * entries as they were; the table points at the first entry seen for an id, whose location wins.
 */
import type { BlobEntry, IndexedPack } from './format.js';

/** Where a blob lives, as the in-memory index keeps it. */
export interface BlobLocation {
  pack: number;
  offset: number;
  length: number;
  rawLength: number;
  comp: number;
  type: number;
}

const ID_BYTES = 32;
const ID_WORDS = ID_BYTES / 4;
/** Empty slot marker in the hash table (slots hold entry numbers). */
const EMPTY = -1;

export class BlobIndex {
  readonly packIds: string[] = [];
  readonly packSizes: number[] = [];
  /** Index objects already loaded, so a refresh reads only new ones. */
  readonly loadedFiles = new Set<string>();
  private readonly packNumbers = new Map<string, number>();
  /** Entries of pack p are [packStart[p], packStart[p] + packCount[p]). */
  private readonly packStart: number[] = [];
  private readonly packCount: number[] = [];

  private n = 0;
  private capacity = 0;
  private ids = new Uint32Array(0);
  private pack = new Uint32Array(0);
  private offset = new Uint32Array(0);
  private length = new Uint32Array(0);
  private rawLength = new Uint32Array(0);
  private codec = new Uint8Array(0); // comp | type << 4
  private table = new Int32Array(0).fill(EMPTY);
  private distinct = 0;

  /** Adds a pack's entries (a pack already indexed is left as it is); the first location of an id wins. */
  addPack(p: IndexedPack): void {
    if (this.packNumbers.has(p.packId)) return;
    const pack = this.packIds.length;
    this.packIds.push(p.packId);
    this.packSizes.push(p.size);
    this.packNumbers.set(p.packId, pack);
    this.packStart.push(this.n);
    this.packCount.push(p.entries.length);
    this.reserve(this.n + p.entries.length);
    for (const e of p.entries) {
      const i = this.n++;
      for (let w = 0; w < ID_WORDS; w++) this.ids[i * ID_WORDS + w] = e.id.readUInt32LE(w * 4);
      this.pack[i] = pack;
      this.offset[i] = e.offset;
      this.length[i] = e.length;
      this.rawLength[i] = e.rawLength;
      this.codec[i] = (e.comp & 0xf) | (e.type << 4);
      const slot = this.find(e.id);
      if (this.table[slot] === EMPTY) {
        this.table[slot] = i;
        this.distinct++;
      }
    }
  }

  /** Gives back the room reserved for growth (after a load: the index is mostly read from then on). */
  trim(): void {
    if (this.capacity === this.n) return;
    this.capacity = this.n;
    this.ids = this.ids.slice(0, this.n * ID_WORDS);
    this.pack = this.pack.slice(0, this.n);
    this.offset = this.offset.slice(0, this.n);
    this.length = this.length.slice(0, this.n);
    this.rawLength = this.rawLength.slice(0, this.n);
    this.codec = this.codec.slice(0, this.n);
  }

  /** The location of a blob by its id (Buffer) or id key ({@link idKey}). */
  get(id: Buffer | string): BlobLocation | undefined {
    if (this.distinct === 0) return undefined;
    const i = this.table[this.find(asId(id))]!;
    return i === EMPTY ? undefined : this.location(i);
  }

  has(id: Buffer | string): boolean {
    return this.distinct > 0 && this.table[this.find(asId(id))] !== EMPTY;
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
        type: loc.type,
        comp: loc.comp,
        offset: loc.offset,
        length: loc.length,
        rawLength: loc.rawLength,
      });
    }
    return { packId, size: this.packSizes[pack]!, entries };
  }

  /** Every indexed blob (once, at the location that wins) with its id key. */
  *entries(): IterableIterator<[string, BlobLocation]> {
    for (let slot = 0; slot < this.table.length; slot++) {
      const i = this.table[slot]!;
      if (i !== EMPTY) yield [this.idOf(i).toString('latin1'), this.location(i)];
    }
  }

  private location(i: number): BlobLocation {
    return {
      pack: this.pack[i]!,
      offset: this.offset[i]!,
      length: this.length[i]!,
      rawLength: this.rawLength[i]!,
      comp: this.codec[i]! & 0xf,
      type: this.codec[i]! >> 4,
    };
  }

  private idOf(i: number): Buffer {
    const id = Buffer.allocUnsafe(ID_BYTES);
    for (let w = 0; w < ID_WORDS; w++) id.writeUInt32LE(this.ids[i * ID_WORDS + w]!, w * 4);
    return id;
  }

  /** The slot holding `id`, or the empty slot where it would go (linear probing). */
  private find(id: Buffer): number {
    const mask = this.table.length - 1;
    const first = id.readUInt32LE(0);
    for (let slot = first & mask; ; slot = (slot + 1) & mask) {
      const i = this.table[slot]!;
      if (i === EMPTY) return slot;
      if (this.ids[i * ID_WORDS] === first && this.sameId(i, id)) return slot;
    }
  }

  private sameId(i: number, id: Buffer): boolean {
    for (let w = 1; w < ID_WORDS; w++)
      if (this.ids[i * ID_WORDS + w] !== id.readUInt32LE(w * 4)) return false;
    return true;
  }

  /** Room for `entries` entries, and a table at most half full; grows by doubling. */
  private reserve(entries: number): void {
    if (entries > this.capacity) {
      const capacity = Math.max(1024, this.capacity * 2, entries);
      const grow = <T extends Uint32Array | Uint8Array>(a: T, per: number): T => {
        const b = new (a.constructor as new (n: number) => T)(capacity * per);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids, ID_WORDS);
      this.pack = grow(this.pack, 1);
      this.offset = grow(this.offset, 1);
      this.length = grow(this.length, 1);
      this.rawLength = grow(this.rawLength, 1);
      this.codec = grow(this.codec, 1);
      this.capacity = capacity;
    }
    if (entries * 2 <= this.table.length) return;
    let size = Math.max(2048, this.table.length);
    while (size < entries * 2) size *= 2;
    const old = this.table;
    this.table = new Int32Array(size).fill(EMPTY);
    const mask = size - 1;
    for (const i of old) {
      if (i === EMPTY) continue;
      let slot = this.ids[i * ID_WORDS]! & mask;
      while (this.table[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.table[slot] = i;
    }
  }
}

/** A 32-byte id from a Buffer or its latin1 key. */
function asId(id: Buffer | string): Buffer {
  return typeof id === 'string' ? Buffer.from(id, 'latin1') : id;
}
