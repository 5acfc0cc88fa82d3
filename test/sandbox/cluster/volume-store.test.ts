import { expect } from 'chai';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copySparseFile, type CopyMethod } from '../../../src/sandbox/cluster/storage/sparse-copy.js';
import { formatBytes, parseQuantity } from '../../../src/api/quantity.js';
import { VolumeStore } from '../../../src/sandbox/cluster/storage/volume-store.js';

/** Bytes actually allocated on disk (st_blocks is in 512-byte units). */
async function allocated(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(data, 0, data.length, offset);
  await fh.close();
}

describe('sandbox storage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csbs-vol-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses and formats storage quantities', () => {
    expect(parseQuantity('1Gi')).to.equal(2 ** 30);
    expect(parseQuantity('1.5Mi')).to.equal(1.5 * 2 ** 20);
    expect(parseQuantity('500M')).to.equal(5e8);
    expect(parseQuantity('1e3')).to.equal(1000);
    expect(parseQuantity('4096')).to.equal(4096);
    expect(() => parseQuantity('ten gigs')).to.throw(/quantities must match/);
    expect(formatBytes(2 ** 30)).to.equal('1Gi');
    expect(formatBytes(3 * 2 ** 20)).to.equal('3Mi');
    expect(formatBytes(1000)).to.equal('1000');
  });

  for (const method of ['cp', 'zero-skip'] as CopyMethod[]) {
    it(`copies a sparse file keeping holes (${method})`, async () => {
      const src = join(dir, 'src.img');
      const size = 16 * 2 ** 20;
      await writeFile(src, '');
      const fh = await open(src, 'r+');
      await fh.truncate(size);
      await fh.close();
      await writeAt(src, 4096 * 3, Buffer.alloc(8192, 0xab));
      await writeAt(src, size - 100, Buffer.from('tail'));
      const used = await copySparseFile(src, join(dir, 'dst.img'), [method]);
      expect(used).to.equal(method);
      const [a, b] = [await readFile(src), await readFile(join(dir, 'dst.img'))];
      expect(b.length).to.equal(size);
      expect(b.equals(a)).to.equal(true);
      expect(await allocated(join(dir, 'dst.img'))).to.be.below(1 << 20);
    });
  }

  it('reports the method that worked when reflinks are not offered', async () => {
    await writeFile(join(dir, 'a'), 'data');
    const used = await copySparseFile(join(dir, 'a'), join(dir, 'b'));
    expect(['reflink', 'cp', 'zero-skip']).to.include(used);
    expect(await readFile(join(dir, 'b'), 'utf8')).to.equal('data');
  });

  it('creates block and filesystem volumes, snapshots them at an instant and restores them', async () => {
    const store = new VolumeStore(dir);
    const disk = await store.createVolume('pv-a', 'Block', 8 * 2 ** 20);
    expect((await stat(disk)).size).to.equal(8 * 2 ** 20);
    expect(await allocated(disk)).to.equal(0);
    await writeAt(disk, 1 << 20, Buffer.from('before'));
    const info = await store.snapshot('snapcontent-1', 'pv-a', 'Block', 8 * 2 ** 20);
    expect(info.restoreSize).to.equal(8 * 2 ** 20);
    await writeAt(disk, 1 << 20, Buffer.from('after!'));

    const restored = await store.createVolumeFromSnapshot('pv-b', 'Block', 16 * 2 ** 20, 'snapcontent-1');
    const data = await readFile(restored);
    expect(data.length).to.equal(16 * 2 ** 20);
    expect(data.subarray(1 << 20, (1 << 20) + 6).toString()).to.equal('before');
    await expectRejects(
      store.createVolumeFromSnapshot('pv-c', 'Block', 1024, 'snapcontent-1'),
      /smaller than the snapshot/,
    );
    await expectRejects(
      store.createVolumeFromSnapshot('pv-c', 'Filesystem', 16 * 2 ** 20, 'snapcontent-1'),
      /Block volume/,
    );

    const fsPath = await store.createVolume('pv-fs', 'Filesystem', 2 ** 20);
    await writeFile(join(fsPath, 'disk.img'), 'fs-data');
    await store.snapshot('snapcontent-2', 'pv-fs', 'Filesystem', 2 ** 20);
    await writeFile(join(fsPath, 'disk.img'), 'changed');
    const fsRestored = await store.createVolumeFromSnapshot('pv-fs2', 'Filesystem', 2 ** 20, 'snapcontent-2');
    expect(await readFile(join(fsRestored, 'disk.img'), 'utf8')).to.equal('fs-data');

    await store.deleteSnapshot('snapcontent-1');
    await expectRejects(store.snapshotInfo('snapcontent-1'), /not found/);
    await store.deleteVolume('pv-a');
    await expectRejects(stat(disk), /ENOENT/);
    expect(() => store.volumeDir('../etc')).to.throw(/DNS-1123/);
  });
});

async function expectRejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).message).to.match(re);
    return;
  }
  expect.fail(`expected a rejection matching ${re}`);
}
