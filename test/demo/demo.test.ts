/**
 * `csbs demo` as a user runs it: a child process, the whole product end to end (sandbox, CRDs, the
 * controller, mover Jobs, KubeVirt). This is the smoke test of every module working together. One run
 * with `--keep` covers both endings: the output up to the KUBECONFIG line, the sandbox left serving, and
 * exit 0 on Ctrl-C with everything stopped.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/runtime/client.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { packageRoot } from '../../src/version.js';

const csbs = join(packageRoot, 'dist', 'src', 'main.js');

describe('csbs demo (end to end)', function () {
  this.timeout(180_000);
  let child: ChildProcess;
  let out = '';
  let err = '';
  let kubeconfig = '';
  const context = (): string => `\n--- stdout\n${out}\n--- stderr\n${err}`;

  before(async () => {
    child = spawn(process.execPath, [csbs, 'demo', '--keep'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    kubeconfig = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no KUBECONFIG line within 170 s${context()}`)),
        170_000,
      );
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /^export KUBECONFIG=(\S+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`csbs demo exited ${code} before printing KUBECONFIG${context()}`));
      });
    });
  });

  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('prints each step: sandbox, repository, the VM and its two disks, a Full backup', () => {
    expect(err, context()).to.equal('');
    expect(out, context()).to.match(/^\[\s*\d+\.\ds\] 1\. start the sandbox/m);
    expect(out, context()).to.match(/BackupRepository repo: Ready/);
    expect(out, context()).to.match(/web-1-root: Block, 64 MiB, sha256 [0-9a-f]{16}/);
    expect(out, context()).to.match(/web-1-data: Filesystem, 32 MiB, sha256 [0-9a-f]{16}/);
    expect(out, context()).to.match(/manualbk_[0-9a-f]{4}: Full, 96\.0MiB of disks/);
  });

  it('shows the second backup is Incremental and uploaded only the 4 MiB that changed', () => {
    const m =
      /manualbk_[0-9a-f]{4}: Incremental on manualbk_[0-9a-f]{4}, ([\d.]+)MiB changed, ([\d.]+)(KiB|MiB) uploaded/.exec(
        out,
      );
    expect(m, `incremental line${context()}`).to.not.equal(null);
    expect(Number(m![1])).to.equal(4);
    const uploadedMiB = Number(m![2]) / (m![3] === 'KiB' ? 1024 : 1);
    expect(uploadedMiB).to.be.within(3.9, 4.5);
  });

  it('restores the first backup and both disks match their original checksums', () => {
    expect(out, context()).to.match(/Restore back-to-first: Completed/);
    expect(out, context()).to.match(/web-1-root: sha256 [0-9a-f]{16}\.\.\. matches/);
    expect(out, context()).to.match(/web-1-data: sha256 [0-9a-f]{16}\.\.\. matches/);
  });

  it('prints the Backups as kubectl get backups does, then passes', () => {
    expect(out, context()).to.match(/^NAME\s+BACKUP NAME\s+SERVER\s+TYPE\s+PHASE\s+SIZE\s+UPLOADED\s+AGE$/m);
    expect(out, context()).to.match(
      /^manualbk-[0-9a-f]{4}-[0-9a-f]{8}\s+manualbk_[0-9a-f]{4}\s+web-1\s+Full\s+Available\s+96Mi\s+2\d(\.\d+)?Mi\s+\d+s$/m,
    );
    expect(out, context()).to.match(
      /^manualbk-[0-9a-f]{4}-[0-9a-f]{8}\s+manualbk_[0-9a-f]{4}\s+web-1\s+Incremental\s+Available\s+96Mi\s+4(\.\d+)?Mi\s+\d+s$/m,
    );
    expect(out, context()).to.match(/^demo passed in [\d.]+s$/m);
  });

  it('with --keep leaves the sandbox serving the demo objects, the Restore at 100%', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const client = new KubeClient(kc);
    const backups = await client.list(Kinds.Backup, 'csbs-demo');
    expect(backups.items.map((b) => b.status?.phase)).to.deep.equal(['Available', 'Available']);
    // What `kubectl get restores` shows in its PROGRESS column once done.
    const restore = await client.get(Kinds.Restore, 'csbs-demo', 'back-to-first');
    expect(restore.status?.phase).to.equal('Completed');
    expect(restore.status?.progress?.percent).to.equal(100);
  });

  it('stops on Ctrl-C with exit 0 and removes its temporary state', async () => {
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', resolve);
      child.kill('SIGINT');
    });
    expect(code, context()).to.equal(0);
    expect(existsSync(dirname(kubeconfig)), 'temporary state dir removed').to.equal(false);
  });
});
