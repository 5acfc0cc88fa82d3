/** The backup and restore pipeline through its API, on the memory backend (fast, no CLI). */
import { expect } from 'chai';
import { copyFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/mover/backend/memory.js';
import { backup } from '../../src/mover/backup.js';
import { MoverError } from '../../src/mover/errors.js';
import {
  decodePackHeader,
  encodeIndex,
  indexPacks,
  encodePackHeader,
} from '../../src/mover/repository/format.js';
import { seal } from '../../src/mover/repository/crypto.js';
import { Repository } from '../../src/mover/repository/repository.js';
import { gc } from '../../src/mover/gc.js';
import { restore } from '../../src/mover/restore.js';
import { verify } from '../../src/mover/verify.js';
import { pseudoRandom, sha256, tempDir, writeAt } from './helpers.js';

const secret = Buffer.from('test secret');
const BS = 16384;

describe('mover pipeline (API, memory backend)', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('with changed extents from a parent, reads only those blocks and copies the rest from the parent', async () => {
    const { repo } = await Repository.init(new MemoryBackend(), secret, {
      blockSize: BS,
      packSize: 256 << 10,
    });
    const vol = path.join(t.dir, 'vol.img');
    writeFileSync(vol, pseudoRandom(2 << 20, 1));
    const full = await backup(repo, { source: vol });
    const expected = path.join(t.dir, 'expected.img');
    copyFileSync(vol, expected);
    // Two declared changes (one spanning a block boundary) ...
    for (const f of [vol, expected]) {
      writeAt(f, 5 * BS + 100, pseudoRandom(200, 2));
      writeAt(f, 40 * BS - 10, pseudoRandom(20, 3));
    }
    // ... and one the tracker did not report: a CBT backup must not even read it.
    writeAt(vol, 100 * BS, pseudoRandom(64, 4));
    const inc = await backup(repo, {
      source: vol,
      parent: full.manifest,
      changedExtents: [
        { offset: 40 * BS - 10, length: 20 },
        { offset: 5 * BS + 100, length: 200 },
      ],
    });
    expect(inc).to.include({ type: 'Incremental', bytesRead: 3 * BS, blocksNew: 3 });
    expect(inc.blocksReused).to.equal((2 << 20) / BS - 3);
    const out = path.join(t.dir, 'out.img');
    await restore(repo, { manifest: inc.manifest, target: out });
    expect(sha256(out)).to.equal(sha256(expected));
  });

  it('restores, verifies and re-indexes blocks of packs no index lists (packs describe themselves)', async () => {
    const backend = new MemoryBackend();
    const { repo } = await Repository.init(backend, secret, { blockSize: BS, packSize: 256 << 10 });
    const vol = path.join(t.dir, 'vol.img');
    writeFileSync(vol, pseudoRandom(1 << 20, 9));
    const full = await backup(repo, { source: vol });
    // As if a deferred gc had dropped these packs from the index while a backup was using them.
    for await (const o of backend.list('index/')) await backend.delete(o.key);
    const fresh = await Repository.open(backend, secret);
    const out = path.join(t.dir, 'out.img');
    await restore(fresh, { manifest: full.manifest, target: out });
    expect(sha256(out)).to.equal(sha256(vol));
    expect((await verify(await Repository.open(backend, secret), { readData: 1 })).ok).to.equal(true);
    const g = await gc(await Repository.open(backend, secret));
    expect(g.orphansReindexed).to.be.greaterThan(0);
    expect(g.packsDeleted).to.equal(0);
    const indexed = await Repository.open(backend, secret);
    await indexed.loadIndex();
    expect(indexed.index.size).to.equal(full.blocksNew + Math.ceil((1 << 20) / BS / 256));
  });

  it('a wrong secret is refused with WrongKey before anything is written', async () => {
    const backend = new MemoryBackend();
    await Repository.init(backend, secret, {});
    const keys: string[] = [];
    for await (const o of backend.list('')) keys.push(o.key);
    const err = await Repository.open(backend, Buffer.from('nope')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MoverError);
    expect((err as MoverError).exitCode).to.equal(3);
    const after: string[] = [];
    for await (const o of backend.list('')) after.push(o.key);
    expect(after.sort()).to.deep.equal(keys.sort());
  });

  it('refuses a repository of another format with a clear error, and reads nothing else from it', async () => {
    const backend = new MemoryBackend();
    const { repo } = await Repository.init(backend, secret, {});
    const older = { ...repo.config, version: 1 };
    await backend.put(
      'config',
      seal(repo.dataKey, Buffer.from(JSON.stringify(older)), Buffer.from('config')),
    );
    const err = await Repository.open(backend, secret).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(MoverError);
    expect(err).to.include({ code: 'Usage' });
    expect((err as Error).message).to.match(/has format 1, and this csbs reads format 2 only/);
  });

  it('pack headers and index objects round-trip, in less than 48 bytes a blob', () => {
    // Blobs lie back to back: offsets are implied by the lengths before them.
    let offset = 0;
    const entries = Array.from({ length: 256 }, (_, i) => {
      const length = i % 3 === 0 ? 65564 : 20_000 + ((i * 7919) % 4000);
      const e = { id: Buffer.alloc(32, i + 1), type: i % 2, comp: i % 3, offset, length, rawLength: 65536 };
      offset += length;
      return e;
    });
    const header = encodePackHeader(entries);
    expect(decodePackHeader(header)).to.deep.equal(entries);
    expect(header.length / entries.length).to.be.lessThan(36);
    const packs = [
      { packId: 'ab'.repeat(16), size: 123456, entries },
      { packId: 'cd'.repeat(16), size: 99, entries: entries.slice(0, 1) },
    ];
    expect([...indexPacks(encodeIndex(packs))]).to.deep.equal(packs);
    // A table whose offsets are not back to back cannot be written (it would read back wrong).
    expect(() => encodePackHeader([entries[0]!, { ...entries[2]!, offset: 1 }])).to.throw(/expected/);
    expect(() => [...indexPacks(Buffer.from('garbage!'))]).to.throw(/magic/);
  });
});
