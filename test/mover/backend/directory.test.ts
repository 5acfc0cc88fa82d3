/** The directory backend passes the shared suite against a real temp directory, plus crash-safety specifics. */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DirectoryBackend } from '../../../src/mover/backend/directory.js';
import { describeBackendSuite, listAll } from './suite.js';

describe('DirectoryBackend', function () {
  describeBackendSuite('directory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'csbs-dirbackend-'));
    return {
      backend: new DirectoryBackend(dir),
      close: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });

  it('ignores temp files a crashed writer left behind and leaves no temp file after a put', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'csbs-dirbackend-'));
    try {
      const b = new DirectoryBackend(dir);
      await b.put('data/ab/pack1', Buffer.from('whole'));
      mkdirSync(path.join(dir, 'data', 'cd'), { recursive: true });
      writeFileSync(path.join(dir, 'data', 'cd', '.tmp-0123'), 'partial');
      expect((await listAll(b, 'data/')).map((o) => o.key)).to.deep.equal(['data/ab/pack1']);
      expect(readdirSync(path.join(dir, 'data', 'ab'))).to.deep.equal(['pack1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
