import { expect } from 'chai';
import { FakeClock, systemClock } from '../../src/runtime/clock.js';

describe('runtime/clock', () => {
  it('FakeClock fires timers in time order as time advances', async () => {
    const clock = new FakeClock(1000);
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push('c'));
    clock.setTimer(100, () => fired.push('a'));
    const cancelled = clock.setTimer(150, () => fired.push('x'));
    clock.setTimer(100, () => fired.push('b'));
    cancelled.cancel();
    await clock.advance(200);
    expect(fired).to.deep.equal(['a', 'b']);
    expect(clock.nowMs()).to.equal(1200);
    await clock.advance(100);
    expect(fired).to.deep.equal(['a', 'b', 'c']);
    expect(clock.pendingTimers()).to.equal(0);
  });

  it('FakeClock fires timers set by timers within the same advance', async () => {
    const clock = new FakeClock(0);
    const at: number[] = [];
    clock.setTimer(10, () => {
      at.push(clock.nowMs());
      clock.setTimer(10, () => at.push(clock.nowMs()));
    });
    await clock.advance(25);
    expect(at).to.deep.equal([10, 20]);
  });

  it('sleep resolves on advance and rejects on abort', async () => {
    const clock = new FakeClock(0);
    let done = false;
    const p = clock.sleep(50).then(() => (done = true));
    await clock.advance(49);
    expect(done).to.equal(false);
    await clock.advance(1);
    await p;
    expect(done).to.equal(true);
    const ac = new AbortController();
    const s = clock.sleep(1000, ac.signal);
    ac.abort(new Error('stop'));
    await s.then(
      () => expect.fail('should reject'),
      (err: Error) => expect(err.message).to.equal('stop'),
    );
    expect(clock.pendingTimers()).to.equal(0);
  });

  it('systemClock sleeps for real', async () => {
    const start = Date.now();
    await systemClock.sleep(20);
    expect(Date.now() - start).to.be.at.least(15);
  });
});
