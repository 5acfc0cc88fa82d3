/**
 * S3 under faults: a proxy on 127.0.0.1 in front of a real S3 server injects 500s, 503 SlowDown throttling,
 * dropped connections and a 403. Transient faults are retried and the data comes through intact;
 * persistent ones end in one clear StorageError after a bounded number of attempts. Delays are injected,
 * so the tests record the backoff instead of waiting for it.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { StorageError } from '../../../src/mover/backend/backend.js';
import { RetryBackend, type RetryPolicy } from '../../../src/mover/backend/retry.js';
import type { S3Backend } from '../../../src/mover/backend/s3.js';
import { type Fault, type FaultProxy, faults, startFaultProxy } from './fault-proxy.js';
import { s3BackendFor, startS3Server, type TestS3Server } from './s3-server.js';
import { listAll, rejection } from './suite.js';

describe('S3Backend under injected S3 faults', function () {
  let server: TestS3Server;
  let proxy: FaultProxy;
  let sdkDelays: number[];
  let outerDelays: number[];
  let n = 0;
  const opened: S3Backend[] = [];

  const policy = (delays: number[], attempts: number, baseDelayMs: number): RetryPolicy => ({
    attempts,
    baseDelayMs,
    maxDelayMs: baseDelayMs * 8,
    sleep: async (ms) => void delays.push(ms),
    random: () => 0.999,
  });

  /** S3 through the proxy: the SDK retries 3 times per request, RetryBackend 3 times per operation. */
  function backend(sdkAttempts = 3, outerAttempts = 3): { s3: S3Backend; retrying: RetryBackend } {
    const s3 = s3BackendFor(server, {
      prefix: `faults-${++n}`,
      endpoint: proxy.endpoint,
      retry: policy(sdkDelays, sdkAttempts, 10),
      listPageSize: 10,
    });
    opened.push(s3);
    return { s3, retrying: new RetryBackend(s3, { policy: policy(outerDelays, outerAttempts, 100) }) };
  }

  before(async function () {
    server = await startS3Server();
    proxy = await startFaultProxy(server.endpoint);
  });
  beforeEach(function () {
    sdkDelays = [];
    outerDelays = [];
    proxy.setRule(() => 'pass');
    proxy.log.length = 0;
  });
  after(async function () {
    for (const s3 of opened) s3.destroy();
    await proxy?.stop();
    await server?.stop();
  });

  /** Fails the first `count` requests matching `method`, then passes everything. */
  function failFirst(count: number, fault: Fault, method?: string): void {
    let failed = 0;
    proxy.setRule((req) => {
      if ((method === undefined || req.method === method) && failed < count) {
        failed++;
        return fault;
      }
      return 'pass';
    });
  }

  it('retries 500 InternalError with growing jittered delays and stores the object intact', async function () {
    const { retrying } = backend();
    const data = randomBytes(300_000);
    failFirst(2, faults.internal, 'PUT');
    await retrying.put('packs/aa/one', data);
    expect((await retrying.get('packs/aa/one')).equals(data)).to.equal(true);
    expect(proxy.log.filter((r) => r.method === 'PUT').map((r) => r.fault)).to.deep.equal([
      faults.internal,
      faults.internal,
      'pass',
    ]);
    // Full jitter under a doubling cap (random() = 0.999 picks just under the cap).
    expect(sdkDelays).to.deep.equal([9, 19]);
    expect(outerDelays).to.deep.equal([]);
  });

  it('rides out 503 SlowDown throttling on a third of all requests: puts, gets, ranges and paged lists', async function () {
    const { retrying } = backend();
    proxy.setRule((req) => (req.n % 3 === 0 ? faults.slowDown : 'pass'));
    const objects = Array.from({ length: 25 }, (_, i) => ({
      key: `packs/${i}`,
      data: randomBytes(5_000 + i),
    }));
    await Promise.all(objects.map(({ key, data }) => retrying.put(key, data)));
    for (const { key, data } of objects) {
      expect((await retrying.get(key)).equals(data)).to.equal(true);
      expect((await retrying.getRange(key, 100, 50)).equals(data.subarray(100, 150))).to.equal(true);
    }
    const listed = await listAll(retrying, 'packs/');
    expect(listed.map((o) => o.key).sort()).to.deep.equal(objects.map((o) => o.key).sort());
    expect(proxy.log.filter((r) => r.fault !== 'pass').length).to.be.greaterThan(20);
  });

  it('retries dropped connections', async function () {
    const { retrying } = backend();
    await retrying.put('index/1', Buffer.from('index'));
    failFirst(2, 'reset', 'GET');
    expect((await retrying.get('index/1')).toString()).to.equal('index');
    expect(proxy.log.filter((r) => r.fault === 'reset').length).to.equal(2);
  });

  it('restarts a listing that fails midway and yields each key once', async function () {
    // No SDK retries here, so the page failure reaches RetryBackend, which must not duplicate keys.
    const { retrying } = backend(1, 4);
    const keys = Array.from({ length: 35 }, (_, i) => `index/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((key) => retrying.put(key, Buffer.from(key))));
    let lists = 0;
    proxy.setRule((req) =>
      req.method === 'GET' && req.path.includes('list-type=2') && ++lists === 3 ? faults.internal : 'pass',
    );
    const listed = await listAll(retrying, 'index/');
    expect(listed.map((o) => o.key)).to.deep.equal(keys);
    expect(outerDelays.length).to.equal(1);
  });

  it('gives up on persistent SlowDown after a bounded number of attempts with one clear error', async function () {
    const { retrying } = backend(3, 3);
    proxy.setRule(() => faults.slowDown);
    const error = await rejection(retrying.put('packs/ff/full', Buffer.from('data')));
    expect(error).to.be.instanceOf(StorageError);
    const storage = error as StorageError;
    expect(storage.op).to.equal('put');
    expect(storage.key).to.equal('packs/ff/full');
    expect(storage.attempts).to.equal(3);
    expect(storage.transient).to.equal(true);
    expect(error.message).to.match(
      /^put packs\/ff\/full in s3:\/\/csbs-test\/faults-\d+\/ failed after 3 attempts: /,
    );
    expect(error.message).to.contain('SlowDown').and.contain('HTTP 503');
    // 3 SDK attempts per operation attempt, 3 operation attempts: exactly 9 requests, then silence.
    expect(proxy.log.length).to.equal(9);
    expect(outerDelays).to.deep.equal([99, 199]);
  });

  it('does not retry a permanent error such as 403 AccessDenied', async function () {
    const { retrying } = backend();
    proxy.setRule(() => faults.accessDenied);
    const error = await rejection(retrying.get('config'));
    expect(error).to.be.instanceOf(StorageError);
    expect((error as StorageError).transient).to.equal(false);
    expect(error.message)
      .to.contain('get config in s3://')
      .and.contain('AccessDenied')
      .and.contain('HTTP 403');
    expect(proxy.log.length).to.equal(1);
    expect(sdkDelays.concat(outerDelays)).to.deep.equal([]);
  });
});
