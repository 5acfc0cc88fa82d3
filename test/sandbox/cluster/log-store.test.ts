import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore } from '../../../src/sandbox/cluster/kubelet/log-store.js';

describe('sandbox kubelet: container logs', () => {
  let dir: string;
  let store: LogStore;
  const key = { namespace: 'ns', pod: 'p', uid: 'u1', container: 'c' };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csbs-logs-'));
    store = new LogStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores lines per instance and serves tail, limit, timestamps and previous', async () => {
    expect(await store.read(key)).to.equal(undefined);
    const first = await store.open(key, 0);
    first.write('stdout', 'one\ntw');
    first.write('stderr', 'err\n');
    first.write('stdout', 'o\nthree');
    await first.close();
    expect((await store.read(key))!.toString()).to.equal('one\nerr\ntwo\nthree');
    expect((await store.read({ ...key, tailLines: 2 }))!.toString()).to.equal('two\nthree');
    expect((await store.read({ ...key, limitBytes: 5 }))!.toString()).to.equal('one\ne');
    expect((await store.read({ ...key, timestamps: true }))!.toString()).to.match(
      /^\d{4}-\d\d-\d\dT\S+Z one\n/,
    );
    expect(await store.tail(key, 80, 6)).to.equal('\nthree');

    const second = await store.open(key, 1);
    second.write('stdout', 'again\n');
    await second.close();
    expect((await store.read(key))!.toString()).to.equal('again\n');
    expect((await store.read({ ...key, previous: true }))!.toString()).to.equal('one\nerr\ntwo\nthree');
    await store.removePod(key);
    expect(await store.read(key)).to.equal(undefined);
  });

  it('follows a running container until it ends', async () => {
    const w = await store.open(key, 0);
    w.write('stdout', 'early\n');
    const chunks: string[] = [];
    const ctl = new AbortController();
    const done = (async () => {
      for await (const c of store.follow(key, ctl.signal)!) chunks.push(c.toString());
    })();
    await new Promise((r) => setTimeout(r, 20));
    w.write('stdout', 'late\n');
    await w.close();
    await done;
    expect(chunks.join('')).to.equal('early\nlate\n');
  });
});
