/** The S3 backend against a real S3 HTTP server (s3rver) on 127.0.0.1: the shared suite plus S3 specifics. */
import { expect } from 'chai';
import { StorageError } from '../../../src/mover/backend/backend.js';
import { S3Backend } from '../../../src/mover/backend/s3.js';
import { describeBackendSuite, listAll, rejection } from './suite.js';
import { s3BackendFor, startS3Server, type TestS3Server } from './s3-server.js';

describe('S3Backend', function () {
  let server: TestS3Server;
  let n = 0;
  before(async function () {
    server = await startS3Server();
  });
  after(async function () {
    await server?.stop();
  });

  // A small page size so the many-keys test crosses a dozen ListObjectsV2 pages. s3rver writes objects in
  // place, so concurrent overwrites of one key can tear there (AWS S3 itself replaces objects atomically).
  describeBackendSuite(
    's3 (s3rver)',
    async () => {
      const backend = s3BackendFor(server, { prefix: `suite-${++n}`, listPageSize: 30 });
      return { backend, close: async () => backend.destroy() };
    },
    { manyKeys: 400, atomicOverwrites: false },
  );

  it('keeps prefixes apart in one bucket, even when one prefix starts with the other', async function () {
    const a = s3BackendFor(server, { prefix: 'tenant/a' });
    const a2 = s3BackendFor(server, { prefix: '/tenant/a2/' });
    try {
      expect(a.location).to.equal('s3://csbs-test/tenant/a/');
      expect(a2.location).to.equal('s3://csbs-test/tenant/a2/');
      await a.put('config', Buffer.from('a'));
      await a2.put('config', Buffer.from('a2'));
      await a2.put('only-in-a2', Buffer.from('z'));
      expect((await a.get('config')).toString()).to.equal('a');
      expect((await a2.get('config')).toString()).to.equal('a2');
      expect((await listAll(a, '')).map((o) => o.key)).to.deep.equal(['config']);
      expect(await a.stat('only-in-a2')).to.equal(undefined);
    } finally {
      a.destroy();
      a2.destroy();
    }
  });

  it('takes credentials from the AWS env variables when none are given', async function () {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    const backend = new S3Backend({
      bucket: server.bucket,
      prefix: 'env-creds',
      endpoint: server.endpoint,
      forcePathStyle: true,
    });
    try {
      await backend.put('k', Buffer.from('v'));
      expect((await backend.get('k')).toString()).to.equal('v');
    } finally {
      backend.destroy();
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('fails clearly, without retrying, when the bucket does not exist', async function () {
    const backend = s3BackendFor(server, { prefix: 'p', bucket: 'no-such-bucket' });
    try {
      const error = await rejection(backend.put('packs/x', Buffer.from('x')));
      expect(error).to.be.instanceOf(StorageError);
      expect(error.message).to.contain('put packs/x in s3://no-such-bucket/p/').and.contain('does not exist');
      expect((error as StorageError).transient).to.equal(false);
    } finally {
      backend.destroy();
    }
  });

  it('rejects a bucket name S3 would refuse, naming the rule', function () {
    expect(() => new S3Backend({ bucket: 'Bad_Bucket' })).to.throw(/invalid S3 bucket name "Bad_Bucket"/);
  });
});
