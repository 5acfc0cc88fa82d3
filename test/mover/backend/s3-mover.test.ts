/**
 * `csbs mover` on an S3 repository through a fault-injecting proxy (real HTTP on 127.0.0.1 all the way):
 * throttling and 500s are ridden out, and a backup that cannot finish exits 7 with a clear error and
 * leaves no manifest behind, so the repository stays consistent and the next backup succeeds.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listAll } from './suite.js';
import { type FaultProxy, faults, startFaultProxy } from './fault-proxy.js';
import { s3BackendFor, startS3Server, testCredentials, type TestS3Server } from './s3-server.js';
import { makeVolume, mover, sha256, tempDir, writeAt, pseudoRandom } from '../helpers.js';

describe('csbs mover on S3 under injected faults', function () {
  this.timeout(120_000);
  let server: TestS3Server;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup(): void };
  const env = {
    AWS_ACCESS_KEY_ID: testCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: testCredentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const s3Args = (prefix: string): string[] => [
    '--repo',
    `s3://${server.bucket}/${prefix}`,
    '--s3-endpoint',
    proxy.endpoint,
    '--s3-force-path-style',
  ];

  before(async function () {
    server = await startS3Server();
    proxy = await startFaultProxy(server.endpoint);
    tmp = tempDir();
  });
  after(async function () {
    await proxy?.stop();
    await server?.stop();
    tmp?.cleanup();
  });
  beforeEach(function () {
    proxy.setRule(() => 'pass');
    proxy.log.length = 0;
  });

  it('backs up and restores byte for byte while a third of all requests get 500 or 503 SlowDown', async function () {
    const volume = join(tmp.dir, 'flaky.img');
    const target = join(tmp.dir, 'flaky-restored.img');
    makeVolume(volume, 6 * 1024 * 1024, 7);
    makeVolume(target, 6 * 1024 * 1024, 99);
    proxy.setRule((req) =>
      req.n % 3 === 0 ? (req.n % 2 === 0 ? faults.internal : faults.slowDown) : 'pass',
    );
    const init = await mover(['init', ...s3Args('flaky')], env);
    expect(init.code, init.stderr).to.equal(0);
    const backup = await mover(['backup', ...s3Args('flaky'), '--source', volume], env);
    expect(backup.code, backup.stderr).to.equal(0);
    const restore = await mover(
      ['restore', ...s3Args('flaky'), '--manifest', String(backup.last.manifest), '--target', target],
      env,
    );
    expect(restore.code, restore.stderr).to.equal(0);
    expect(sha256(target)).to.equal(sha256(volume));
    expect(proxy.log.filter((r) => r.fault !== 'pass').length).to.be.greaterThan(5);
  });

  it('a backup that keeps failing exits 7, names the failure, and leaves no manifest; the next one succeeds', async function () {
    const volume = join(tmp.dir, 'failing.img');
    const target = join(tmp.dir, 'failing-restored.img');
    const summaryFile = join(tmp.dir, 'summary.json');
    makeVolume(volume, 6 * 1024 * 1024, 3);
    expect((await mover(['init', ...s3Args('failing')], env)).code).to.equal(0);
    const first = await mover(['backup', ...s3Args('failing'), '--source', volume], env);
    expect(first.code, first.stderr).to.equal(0);
    const original = sha256(volume);
    writeAt(volume, 1024 * 1024, pseudoRandom(256 * 1024, 42));

    const direct = s3BackendFor(server, { prefix: 'failing' });
    try {
      const manifestsBefore = (await listAll(direct, 'manifests/')).map((o) => o.key);
      expect(manifestsBefore).to.have.length(1);
      // Two ways to fail: the manifest upload itself (after packs and index went up), or every upload
      // from the second on. SlowDown is retried until the attempts run out; AccessDenied is not retried.
      const rules = [
        (req: { method: string; path: string }) =>
          req.method === 'PUT' && req.path.includes('/manifests/') ? faults.slowDown : 'pass',
        (() => {
          let puts = 0;
          return (req: { method: string }) =>
            req.method === 'PUT' && ++puts > 1 ? faults.accessDenied : 'pass';
        })(),
      ] as const;
      for (const rule of rules) {
        proxy.setRule(rule);
        const failed = await mover(
          [
            'backup',
            ...s3Args('failing'),
            '--source',
            volume,
            '--retry-attempts',
            '2',
            '--summary-file',
            summaryFile,
          ],
          env,
        );
        expect(failed.code, failed.stderr).to.equal(7);
        const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as {
          error: { code: string; message: string };
        };
        expect(summary.error.code).to.equal('Storage');
        expect(summary.error.message).to.match(/put \S+ in s3:\/\/csbs-test\/failing\/ failed/);
        expect(summary.error.message).to.match(/SlowDown|AccessDenied/);
        expect((await listAll(direct, 'manifests/')).map((o) => o.key)).to.deep.equal(manifestsBefore);
      }

      proxy.setRule(() => 'pass');
      const restoreFirst = await mover(
        ['restore', ...s3Args('failing'), '--manifest', String(first.last.manifest), '--target', target],
        env,
      );
      expect(restoreFirst.code, restoreFirst.stderr).to.equal(0);
      expect(sha256(target)).to.equal(original);
      const next = await mover(
        ['backup', ...s3Args('failing'), '--source', volume, '--parent', String(first.last.manifest)],
        env,
      );
      expect(next.code, next.stderr).to.equal(0);
      const restoreNext = await mover(
        ['restore', ...s3Args('failing'), '--manifest', String(next.last.manifest), '--target', target],
        env,
      );
      expect(restoreNext.code, restoreNext.stderr).to.equal(0);
      expect(sha256(target)).to.equal(sha256(volume));
    } finally {
      direct.destroy();
    }
  });
});
