/** RetryBackend and the retry policy: which errors are retried, how long it waits, and how it gives up. */
import { expect } from 'chai';
import {
  type Backend,
  NotFoundError,
  type ObjectInfo,
  StorageError,
} from '../../../src/mover/backend/backend.js';
import {
  backoffDelay,
  isTransientError,
  RetryBackend,
  type RetryEvent,
  type RetryPolicy,
} from '../../../src/mover/backend/retry.js';
import { MemoryBackend } from '../../../src/mover/backend/memory.js';
import { describeBackendSuite, rejection } from './suite.js';

// The wrapper must keep every semantic of the backend it wraps.
describeBackendSuite('retry wrapper over memory', async () => ({
  backend: new RetryBackend(new MemoryBackend()),
  close: async () => undefined,
}));

/** An errno-style error as Node's fs raises it. */
function fsError(code: string): Error {
  return Object.assign(new Error(`${code}: simulated, open '/repo/packs/x'`), { code });
}

/** An in-memory backend whose next calls fail with queued errors, like a directory on a flaky disk. */
class FlakyBackend implements Backend {
  readonly location = '/repo';
  readonly objects = new Map<string, Buffer>();
  readonly failures: Error[] = [];
  calls = 0;

  private async maybeFail(): Promise<void> {
    this.calls++;
    const next = this.failures.shift();
    if (next) throw next;
  }
  async get(key: string): Promise<Buffer> {
    await this.maybeFail();
    const data = this.objects.get(key);
    if (!data) throw new NotFoundError(key, this.location);
    return data;
  }
  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return (await this.get(key)).subarray(offset, offset + length);
  }
  async put(key: string, data: Buffer): Promise<void> {
    await this.maybeFail();
    this.objects.set(key, data);
  }
  async stat(key: string): Promise<ObjectInfo | undefined> {
    await this.maybeFail();
    const data = this.objects.get(key);
    return data && { key, size: data.length };
  }
  async delete(key: string): Promise<void> {
    await this.maybeFail();
    this.objects.delete(key);
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, data] of this.objects) {
      if (!key.startsWith(prefix)) continue;
      await this.maybeFail();
      yield { key, size: data.length };
    }
  }
}

describe('RetryBackend', function () {
  let inner: FlakyBackend;
  let delays: number[];
  let events: RetryEvent[];
  let backend: RetryBackend;
  const policy = (): RetryPolicy => ({
    attempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 300,
    sleep: async (ms) => void delays.push(ms),
    random: () => 0.5,
  });

  beforeEach(function () {
    inner = new FlakyBackend();
    delays = [];
    events = [];
    backend = new RetryBackend(inner, { policy: policy(), onRetry: (e) => events.push(e) });
  });

  it('picks each delay uniformly below a doubling cap, never above the maximum', function () {
    const p: RetryPolicy = { attempts: 9, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 };
    expect([0, 1, 2, 3, 4, 5].map((i) => backoffDelay(p, i))).to.deep.equal([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay({ ...p, random: () => 0 }, 5)).to.equal(0);
  });

  it('classifies errors: throttling, 5xx and resets are transient; missing keys and bad requests are not', function () {
    const sdk = (name: string, status: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    expect(isTransientError(sdk('SlowDown', 503))).to.equal(true);
    expect(isTransientError(sdk('InternalError', 500))).to.equal(true);
    expect(isTransientError(sdk('TooManyRequests', 429))).to.equal(true);
    expect(isTransientError(fsError('ECONNRESET'))).to.equal(true);
    expect(isTransientError(fsError('EBUSY'))).to.equal(true);
    expect(isTransientError(fsError('ENOSPC'))).to.equal(true);
    expect(isTransientError(new Error('wrapped', { cause: fsError('EPIPE') }))).to.equal(true);
    expect(isTransientError(sdk('AccessDenied', 403))).to.equal(false);
    expect(isTransientError(fsError('EACCES'))).to.equal(false);
    expect(isTransientError(fsError('ENOENT'))).to.equal(false);
    expect(isTransientError(new NotFoundError('k', '/repo'))).to.equal(false);
    expect(isTransientError('not an error')).to.equal(false);
  });

  it('retries a busy disk and succeeds, reporting each retry', async function () {
    inner.failures.push(fsError('EBUSY'), fsError('EAGAIN'));
    await backend.put('packs/aa', Buffer.from('pack'));
    expect(inner.objects.get('packs/aa')?.toString()).to.equal('pack');
    expect(delays).to.deep.equal([50, 100]);
    expect(events.map((e) => [e.op, e.key, e.attempt])).to.deep.equal([
      ['put', 'packs/aa', 1],
      ['put', 'packs/aa', 2],
    ]);
  });

  it('gives up on a full disk after the policy attempts, naming the operation, key and cause', async function () {
    inner.failures.push(...Array.from({ length: 10 }, () => fsError('ENOSPC')));
    const error = await rejection(backend.put('packs/bb', Buffer.from('pack')));
    expect(error).to.be.instanceOf(StorageError);
    expect(error.message).to.equal(
      "put packs/bb in /repo failed after 4 attempts: ENOSPC: simulated, open '/repo/packs/x'",
    );
    expect(inner.calls).to.equal(4);
    expect(delays).to.deep.equal([50, 100, 150]);
    expect(inner.objects.has('packs/bb')).to.equal(false);
  });

  it('fails at once on a permanent error, and passes NotFoundError through untouched', async function () {
    inner.failures.push(fsError('EACCES'));
    const error = await rejection(backend.get('config'));
    expect(error).to.be.instanceOf(StorageError);
    expect((error as StorageError).transient).to.equal(false);
    expect(error.message).to.equal("get config in /repo failed: EACCES: simulated, open '/repo/packs/x'");
    expect(await rejection(backend.get('config'))).to.be.instanceOf(NotFoundError);
    expect(inner.calls).to.equal(2);
    expect(delays).to.deep.equal([]);
  });

  it('retries every operation of the interface', async function () {
    await inner.put('k', Buffer.from('0123456789'));
    inner.calls = 0;
    for (const run of [
      () => backend.get('k'),
      () => backend.getRange('k', 2, 3),
      () => backend.stat('k'),
      () => backend.put('k2', Buffer.from('x')),
      () => backend.delete('k2'),
    ]) {
      inner.failures.push(fsError('EIO'));
      await run();
    }
    expect(inner.calls).to.equal(10);
    expect(events.map((e) => e.op)).to.deep.equal(['get', 'getRange', 'stat', 'put', 'delete']);
  });

  it('restarts a failed listing without repeating keys, and gives up on one that keeps failing', async function () {
    for (const key of ['a/1', 'a/2', 'a/3', 'b/1']) inner.objects.set(key, Buffer.from(key));
    inner.calls = 0;
    // The listing fails after yielding a/1 and a/2 once, then on the restart's first key.
    const listed: string[] = [];
    let n = 0;
    const orig = inner.list.bind(inner);
    inner.list = async function* (prefix: string) {
      const run = ++n;
      let i = 0;
      for await (const info of orig(prefix)) {
        if ((run === 1 && i === 2) || (run === 2 && i === 0)) throw fsError('ECONNRESET');
        i++;
        yield info;
      }
    };
    for await (const info of backend.list('a/')) listed.push(info.key);
    expect(listed).to.deep.equal(['a/1', 'a/2', 'a/3']);
    expect(events.map((e) => [e.op, e.attempt])).to.deep.equal([
      ['list', 1],
      ['list', 2],
    ]);

    inner.list = async function* () {
      yield* [];
      throw fsError('ETIMEDOUT');
    };
    const error = await rejection(
      (async () => {
        for await (const _ of backend.list('a/')) void _;
      })(),
    );
    expect(error.message).to.equal(
      "list a/ in /repo failed after 4 attempts: ETIMEDOUT: simulated, open '/repo/packs/x'",
    );
  });
});
