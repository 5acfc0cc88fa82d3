/**
 * The shared backend test suite: every storage backend (memory, directory, S3, retry wrapper) must pass
 * it, so the repository layer can rely on one set of semantics whatever stores its objects. Each backend's
 * `*.test.ts` calls {@link describeBackendSuite} with a factory giving a fresh, empty backend per test.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { alignedBuffers } from '../../../src/mover/aligned.js';
import { type Backend, NotFoundError, type ObjectInfo } from '../../../src/mover/backend/backend.js';

/** A fresh, empty backend and how to dispose of it. */
export interface OpenedBackend {
  backend: Backend;
  close(): Promise<void>;
}

/** Options for backends whose limits shape the tests. */
export interface SuiteOptions {
  /** Keys to create in the pagination test; a backend should list them across several pages. */
  manyKeys?: number;
  /** Size of the large-object test in bytes. */
  largeObjectBytes?: number;
  /**
   * False only for a test server known to tear concurrent overwrites of one key (s3rver writes the file
   * in place); real backends must keep this property.
   */
  atomicOverwrites?: boolean;
}

/** Collects a listing into a sorted array. */
export async function listAll(backend: Backend, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of backend.list(prefix)) out.push(info);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Asserts that `promise` rejects and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(Error);
    return error as Error;
  }
  expect.fail('expected a rejection');
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inParallel<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Declares the suite for one backend. */
export function describeBackendSuite(
  name: string,
  open: () => Promise<OpenedBackend>,
  options: SuiteOptions = {},
): void {
  const manyKeys = options.manyKeys ?? 1200;
  const largeBytes = options.largeObjectBytes ?? 24 * 1024 * 1024;

  describe(`backend suite: ${name}`, function () {
    let opened: OpenedBackend;
    let backend: Backend;

    beforeEach(async function () {
      opened = await open();
      backend = opened.backend;
    });
    afterEach(async function () {
      await opened?.close();
    });

    it('has a location that names where the data lives', function () {
      expect(backend.location).to.be.a('string').and.not.equal('');
    });

    it('puts and gets objects byte for byte, including empty ones and nested keys', async function () {
      const data = randomBytes(10_000);
      await backend.put('data/ab/cdef', data);
      await backend.put('empty', Buffer.alloc(0));
      await backend.put('a/b/c/d/e/f', Buffer.from('deep'));
      expect((await backend.get('data/ab/cdef')).equals(data)).to.equal(true);
      expect((await backend.get('empty')).length).to.equal(0);
      expect((await backend.get('a/b/c/d/e/f')).toString()).to.equal('deep');
    });

    it('rejects a missing key with NotFoundError naming the key, and stat says undefined', async function () {
      await backend.put('present', Buffer.from('x'));
      const error = await rejection(backend.get('absent/key'));
      expect(error).to.be.instanceOf(NotFoundError);
      expect((error as NotFoundError).key).to.equal('absent/key');
      expect(error.message).to.contain('absent/key');
      expect(await rejection(backend.getRange('absent/key', 0, 1))).to.be.instanceOf(NotFoundError);
      expect(await backend.stat('absent/key')).to.equal(undefined);
      expect(await backend.stat('present/x')).to.equal(undefined);
    });

    it('overwrites an object whole, and stat reports the new size', async function () {
      await backend.put('config', Buffer.from('first version, longer'));
      await backend.put('config', Buffer.from('second'));
      expect((await backend.get('config')).toString()).to.equal('second');
      expect(await backend.stat('config')).to.deep.equal({ key: 'config', size: 6 });
      expect(await listAll(backend, 'config')).to.deep.equal([{ key: 'config', size: 6 }]);
    });

    it('reads exact ranges at the start, middle and end, and zero-length ranges', async function () {
      const data = randomBytes(100_000);
      await backend.put('pack', data);
      for (const [offset, length] of [
        [0, 1],
        [0, 100_000],
        [12_345, 4096],
        [99_999, 1],
        [50_000, 50_000],
      ]) {
        const got = await backend.getRange('pack', offset, length);
        expect(got.length, `range ${offset}+${length}`).to.equal(length);
        expect(got.equals(data.subarray(offset, offset + length)), `range ${offset}+${length}`).to.equal(
          true,
        );
      }
      expect((await backend.getRange('pack', 500, 0)).length).to.equal(0);
    });

    it('rejects a range past the end of an object (never a short read), and not as NotFoundError', async function () {
      await backend.put('small', Buffer.from('0123456789'));
      for (const [offset, length] of [
        [5, 10],
        [10, 1],
        [100, 5],
      ]) {
        const error = await rejection(backend.getRange('small', offset, length));
        expect(error, `range ${offset}+${length}`).not.to.be.instanceOf(NotFoundError);
      }
    });

    it('deletes objects; deleting a missing key succeeds', async function () {
      await backend.put('gone', Buffer.from('x'));
      await backend.put('kept', Buffer.from('y'));
      await backend.delete('gone');
      await backend.delete('gone');
      await backend.delete('never/existed');
      expect(await rejection(backend.get('gone'))).to.be.instanceOf(NotFoundError);
      expect(await backend.stat('gone')).to.equal(undefined);
      expect((await backend.get('kept')).toString()).to.equal('y');
      expect((await listAll(backend, '')).map((o) => o.key)).to.deep.equal(['kept']);
    });

    it('lists by plain string prefix with sizes, at any depth', async function () {
      const keys = [
        'index/0001',
        'index/0002',
        'indexes/x',
        'packs/00/aa',
        'packs/01/bb',
        'packs/0100',
        'root',
      ];
      for (const [i, key] of keys.entries()) await backend.put(key, Buffer.alloc(i + 1, i));
      expect(await listAll(backend, '')).to.deep.equal(keys.map((key, i) => ({ key, size: i + 1 })));
      expect((await listAll(backend, 'index/')).map((o) => o.key)).to.deep.equal([
        'index/0001',
        'index/0002',
      ]);
      expect((await listAll(backend, 'index')).map((o) => o.key)).to.deep.equal([
        'index/0001',
        'index/0002',
        'indexes/x',
      ]);
      expect((await listAll(backend, 'packs/01')).map((o) => o.key)).to.deep.equal([
        'packs/01/bb',
        'packs/0100',
      ]);
      expect((await listAll(backend, 'packs/00/aa')).map((o) => o.key)).to.deep.equal(['packs/00/aa']);
      expect(await listAll(backend, 'nothing/')).to.deep.equal([]);
    });

    it(`lists many keys (${manyKeys}) completely and once each`, async function () {
      this.timeout(120_000);
      const keys = Array.from(
        { length: manyKeys },
        (_, i) => `many/${(i % 16).toString(16)}/${String(i).padStart(6, '0')}`,
      );
      await inParallel(keys, 16, (key) => backend.put(key, Buffer.from(key)));
      await backend.put('other/one', Buffer.from('1'));
      const listed = await listAll(backend, 'many/');
      expect(listed.length).to.equal(manyKeys);
      expect(new Set(listed.map((o) => o.key)).size).to.equal(manyKeys);
      expect(listed.map((o) => o.key)).to.deep.equal([...keys].sort());
      expect(listed.every((o) => o.size === o.key.length)).to.equal(true);
    });

    it('stores and range-reads a large object', async function () {
      this.timeout(60_000);
      const data = randomBytes(largeBytes);
      await backend.put('large/pack', data);
      expect(await backend.stat('large/pack')).to.deep.equal({ key: 'large/pack', size: largeBytes });
      expect(sha(await backend.get('large/pack'))).to.equal(sha(data));
      const offset = largeBytes - 3 * 1024 * 1024 - 17;
      const got = await backend.getRange('large/pack', offset, 2 * 1024 * 1024);
      expect(got.equals(data.subarray(offset, offset + 2 * 1024 * 1024))).to.equal(true);
    });

    it('stores packs from page-aligned shared buffers (O_DIRECT on a directory) with unaligned tails, and owns its copy', async function () {
      this.timeout(60_000);
      // The pack writer's buffers: slices of one shared WebAssembly memory, reused after each put.
      const [first, second] = alignedBuffers(2, (2 << 20) + 8192);
      const sizes = [(2 << 20) + 4097, 1 << 20, (1 << 20) + 512];
      for (const [i, size] of sizes.entries()) {
        const buf = (i % 2 ? second : first)!.subarray(0, size);
        randomBytes(size).copy(buf);
        const expected = sha(buf);
        await backend.put(`data/al/${i}`, buf);
        buf.fill(0xee); // the writer reuses its buffer at once
        expect(sha(await backend.get(`data/al/${i}`)), `object ${i} (${size} bytes)`).to.equal(expected);
      }
      // An ordinary (unaligned) buffer of the same size takes the buffered path.
      const plain = randomBytes((1 << 20) + 3);
      await backend.put('data/al/plain', plain.subarray(3));
      expect((await backend.get('data/al/plain')).equals(plain.subarray(3))).to.equal(true);
      expect(await listAll(backend, 'data/al/')).to.have.length(4);
    });

    it('takes concurrent puts of different keys, and concurrent overwrites leave one whole value', async function () {
      const distinct = Array.from({ length: 48 }, (_, i) => ({
        key: `c/${i}`,
        data: randomBytes(20_000 + i),
      }));
      await Promise.all(distinct.map(({ key, data }) => backend.put(key, data)));
      for (const { key, data } of distinct) expect((await backend.get(key)).equals(data), key).to.equal(true);

      if (options.atomicOverwrites === false) return;
      const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024 + i * 1000, i + 1));
      await Promise.all(versions.map((data) => backend.put('same', data)));
      const got = await backend.get('same');
      expect(
        versions.some((v) => v.equals(got)),
        'one of the written values, whole',
      ).to.equal(true);
      expect((await backend.stat('same'))?.size).to.equal(got.length);
    });

    it('rejects malformed keys with an error that is not NotFoundError', async function () {
      for (const key of ['', '/abs', 'a//b', 'a/../b', '../escape', './x', 'trailing/']) {
        const error = await rejection(backend.put(key, Buffer.from('x')));
        expect(error, `key "${key}"`).not.to.be.instanceOf(NotFoundError);
      }
      expect(await listAll(backend, '')).to.deep.equal([]);
    });
  });
}
