import { expect } from 'chai';
import { ExponentialBackoff } from '../../src/runtime/backoff.js';
import { FakeClock, flushPromises } from '../../src/runtime/clock.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';

describe('runtime/backoff', () => {
  it('doubles per failure from the base up to the cap, per key, and resets on forget', () => {
    const b = new ExponentialBackoff({ baseMs: 100, maxMs: 1000 });
    expect([b.when('a'), b.when('a'), b.when('a'), b.when('a'), b.when('a'), b.when('a')]).to.deep.equal([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(b.when('b')).to.equal(100);
    expect(b.retries('a')).to.equal(6);
    b.forget('a');
    expect(b.retries('a')).to.equal(0);
    expect(b.when('a')).to.equal(100);
  });

  it('never overflows after very many failures', () => {
    const b = new ExponentialBackoff({ baseMs: 100, maxMs: 300_000 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.when('k');
    expect(last).to.equal(300_000);
  });
});

describe('runtime/workqueue', () => {
  it('deduplicates waiting keys and keeps FIFO order', async () => {
    const depths: number[] = [];
    const q = new WorkQueue({ onDepth: (d) => depths.push(d) });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).to.equal(2);
    expect(await q.get()).to.equal('a');
    expect(await q.get()).to.equal('b');
    expect(q.len()).to.equal(0);
    expect(depths.at(-1)).to.equal(0);
  });

  it('never hands one key to two workers; a key re-added while in flight runs again after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a'); // changed while processing
    q.add('a');
    q.add('b');
    expect(await q.get()).to.equal('b', 'a is in flight, so the next worker gets b');
    q.done('b');
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await flushPromises();
    expect(second).to.equal(undefined, 'a must wait for its first run to finish');
    q.done(first as string);
    await flushPromises();
    expect(second).to.equal('a');
    q.done('a');
    expect(q.len()).to.equal(0);
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('x');
    expect(await p).to.equal('x');
    expect(q.inFlight()).to.equal(1);
  });

  it('addAfter delays by the clock and keeps the earliest deadline per key', async () => {
    const clock = new FakeClock(0);
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000); // later: ignored
    q.addAfter('b', 3000);
    q.addAfter('b', 2000); // earlier: replaces
    expect(q.delayedCount()).to.equal(2);
    await clock.advance(999);
    expect(q.len()).to.equal(0);
    await clock.advance(1);
    expect(q.len()).to.equal(1);
    await clock.advance(1000);
    expect(q.len()).to.equal(2);
    await clock.advance(10_000);
    expect(q.len()).to.equal(2, 'replaced timers never fire twice');
    expect(q.delayedCount()).to.equal(0);
  });

  it('addRateLimited backs off exponentially per key until forget', async () => {
    const clock = new FakeClock(0);
    const q = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff({ baseMs: 10, maxMs: 1000 }) });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push(q.addRateLimited('k'));
      await clock.advance(delays[i]);
      const key = await q.get();
      q.done(key as string);
    }
    expect(delays).to.deep.equal([10, 20, 40, 80]);
    q.forget('k');
    expect(q.addRateLimited('k')).to.equal(10);
  });

  it('shutDown drains: waiting workers get undefined, in-flight work finishes, queued keys are dropped', async () => {
    const clock = new FakeClock(0);
    const q = new WorkQueue({ clock });
    q.add('a');
    q.add('b');
    q.addAfter('c', 100);
    const a = await q.get();
    const b = await q.get();
    const idle = q.get();
    let drained = false;
    const shut = q.shutDown().then(() => (drained = true));
    expect(await idle).to.equal(undefined);
    await flushPromises();
    expect(drained).to.equal(false, 'two keys still in flight');
    q.done(a as string);
    await flushPromises();
    expect(drained).to.equal(false);
    q.done(b as string);
    await shut;
    expect(drained).to.equal(true);
    q.add('d');
    await clock.advance(1000);
    expect(q.len()).to.equal(0);
    expect(await q.get()).to.equal(undefined);
  });
});
