import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { BlobIndex } from '../../src/mover/repository/blob-index.js';
import { BAD_COPY, type BlobEntry, type IndexedPack } from '../../src/mover/repository/format.js';

function entry(id: Buffer, offset: number): BlobEntry {
  return { id, type: offset % 2, comp: offset % 3, offset, length: 100 + offset, rawLength: 65536 };
}

describe('mover/repository/blob-index', () => {
  it('finds blobs by id and by id key; the first pack to index an id wins; packs keep every entry', () => {
    const idx = new BlobIndex();
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(idx.get(a)).to.equal(undefined);
    expect(idx.has(a)).to.equal(false);
    idx.addPack({ packId: 'p1', size: 1000, entries: [entry(a, 0), entry(b, 7)] });
    idx.addPack({ packId: 'p2', size: 2000, entries: [entry(b, 40)] });
    expect(idx.get(a)).to.deep.equal({ pack: 0, offset: 0, length: 100, rawLength: 65536, comp: 0, type: 0 });
    expect(idx.get(b.toString('latin1'))).to.deep.equal({
      pack: 0,
      offset: 7,
      length: 107,
      rawLength: 65536,
      comp: 1,
      type: 1,
    });
    expect(idx.size).to.equal(2);
    expect(idx.packIds).to.deep.equal(['p1', 'p2']);
    expect(idx.packEntries('p2')).to.deep.equal({ packId: 'p2', size: 2000, entries: [entry(b, 40)] });
    expect(idx.packEntries('nope')).to.equal(undefined);
    // A pack indexed again (a second index object naming it) changes nothing.
    idx.addPack({ packId: 'p1', size: 1000, entries: [entry(randomBytes(32), 3)] });
    expect(idx.size).to.equal(2);
    expect(idx.get(a)?.pack).to.equal(0);
  });

  it('keeps ids that share their first word apart, and grows past its first segment and table', () => {
    const idx = new BlobIndex();
    const ids: Buffer[] = [];
    for (let i = 0; i < 70_000; i++) {
      const id = randomBytes(32);
      if (i % 140 === 0) id.writeUInt32LE(0xdeadbeef, 0); // 500 ids in one probe chain
      ids.push(id);
    }
    for (let p = 0; p < 700; p++)
      idx.addPack({
        packId: `pack-${p}`,
        size: 1,
        entries: ids.slice(p * 100, p * 100 + 100).map((id, k) => entry(id, p * 100 + k)),
      });
    expect(idx.size).to.equal(70_000);
    // A pack's entries come back whole from past the first 64 Ki-entry segment (what gc rewrites).
    expect(idx.packEntries('pack-699')?.entries).to.deep.equal(
      ids.slice(69_900).map((id, k) => entry(id, 69_900 + k)),
    );
    ids.forEach((id, i) => expect(idx.get(id)?.offset, `id ${i}`).to.equal(i));
    const other = Buffer.from(ids[140]!);
    other[31]! ^= 1;
    expect(idx.has(other)).to.equal(false);
  });

  it('a copy flagged bad loses to any good copy, whatever order the index objects load in', () => {
    const x = randomBytes(32);
    const y = randomBytes(32);
    const damaged: IndexedPack = { packId: 'p', size: 1, entries: [entry(y, 0), entry(x, 100)] };
    const flagged: IndexedPack = {
      ...damaged,
      entries: [entry(y, 0), { ...entry(x, 100), type: entry(x, 100).type | BAD_COPY }],
    };
    const repair: IndexedPack = { packId: 'q', size: 1, entries: [entry(x, 0)] };
    const orders = [
      [damaged, repair, flagged],
      [damaged, flagged, repair],
      [repair, damaged, flagged],
      [repair, flagged, damaged],
      [flagged, damaged, repair],
      [flagged, repair, damaged],
    ];
    for (const order of orders) {
      const idx = new BlobIndex();
      for (const p of order) idx.addPack(p);
      const what = order.map((p) => (p === flagged ? 'flagged' : p.packId)).join(',');
      expect(idx.packIds[idx.get(x)!.pack], what).to.equal('q');
      expect(idx.packIds[idx.get(y)!.pack], what).to.equal('p');
      // gc rewrites the damaged pack's entries with the flag, so it stays.
      expect(idx.packEntries('p')!.entries[1]!.type, what).to.equal(BAD_COPY);
    }
  });

  it('markBad: with no good copy the blob is not found; a good copy added later is', () => {
    const idx = new BlobIndex();
    const x = randomBytes(32);
    idx.addPack({ packId: 'p', size: 1, entries: [entry(x, 0)] });
    expect(idx.markBad('p', [x])).to.equal(1);
    expect(idx.markBad('p', [x])).to.equal(0);
    expect(idx.markBad('nope', [x])).to.equal(0);
    expect(idx.has(x)).to.equal(false);
    expect(idx.get(x)).to.equal(undefined);
    idx.addPack({ packId: 'q', size: 1, entries: [entry(x, 2)] });
    expect(idx.get(x)).to.include({ pack: 1, offset: 2 });
  });
});
