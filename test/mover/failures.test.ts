/** Failure behaviour of `csbs mover`, driven through the CLI as a child process. */
import { expect } from 'chai';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeVolume, mover, ok, pseudoRandom, sha256, tempDir } from './helpers.js';

/** Every file below `dir` whose name starts with `.tmp-`. */
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.startsWith('.tmp-')) out.push(path.join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

/** Resolves with the child's first stdout progress line that satisfies `pred`. */
function whenProgress(child: ChildProcess, pred: (p: Record<string, unknown>) => boolean): Promise<void> {
  return new Promise((resolve) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer | string) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines)
        if (l.startsWith('{"phase"') && pred(JSON.parse(l) as Record<string, unknown>)) resolve();
    });
  });
}

describe('csbs mover failures', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  let repo: string;
  beforeEach(() => {
    t = tempDir();
    repo = path.join(t.dir, 'repo');
  });
  afterEach(() => t.cleanup());

  it('SIGKILL mid-backup: no manifest appears, the repository verifies, the next backup reuses the upload', async () => {
    await ok(['init', '--repo', repo, '--block-size', '16Ki', '--pack-size', '512Ki']);
    const vol = path.join(t.dir, 'big.img');
    writeFileSync(vol, pseudoRandom(48 << 20, 5));
    const killed = await mover(
      ['backup', '--repo', repo, '--source', vol, '--progress-interval', '0', '--workers', '2'],
      {},
      (child) => {
        void whenProgress(child, (p) => (p.bytesNew as number) > 12 << 20).then(() => child.kill('SIGKILL'));
      },
    );
    expect(killed.signal).to.equal('SIGKILL');
    expect(killed.lines.some((l) => 'manifest' in l)).to.equal(false);
    expect((await ok(['list', '--repo', repo, '--json'])).manifests).to.deep.equal([]);
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);
    const next = await ok(['backup', '--repo', repo, '--source', vol]);
    expect(next.blocksReused as number).to.be.greaterThan(8 << 6); // > 8 MiB of 16 KiB blocks reused
    expect(next.bytesNew as number).to.be.lessThan(40 << 20);
    const out = path.join(t.dir, 'out.img');
    await ok(['restore', '--repo', repo, '--manifest', next.manifest as string, '--target', out]);
    expect(sha256(out)).to.equal(sha256(vol));
    // The killed process's lock is recognised as dead, so gc is not blocked by it.
    const g = await ok(['gc', '--repo', repo]);
    expect(g.deferred).to.equal(undefined);
  });

  it('gc while a backup is running: both succeed and the backup restores', async () => {
    await ok(['init', '--repo', repo, '--block-size', '16Ki', '--pack-size', '256Ki']);
    const vol = path.join(t.dir, 'vol.img');
    makeVolume(vol, 16 << 20, 3);
    // The first backup's manifest is deleted: its packs are garbage that the second backup reuses.
    const first = await ok(['backup', '--repo', repo, '--source', vol]);
    await ok(['delete', '--repo', repo, '--manifest', first.manifest as string]);
    let child: ChildProcess | undefined;
    const running = mover(
      ['backup', '--repo', repo, '--source', vol, '--progress-interval', '0'],
      {},
      (c) => {
        child = c;
      },
    );
    // Pause the backup mid-way (lock held, index read, blocks being reused), run gc, then resume.
    await whenProgress(child!, (p) => (p.bytesDone as number) >= 4 << 20);
    child!.kill('SIGSTOP');
    try {
      const g = await ok(['gc', '--repo', repo]);
      expect(g.deferred).to.be.a('string');
      expect(g.packsDeleted).to.equal(0);
    } finally {
      child!.kill('SIGCONT');
    }
    const second = await running;
    expect(second.code).to.equal(0);
    const s = second.last;
    expect(s.blocksNew).to.equal(0);
    const after = await ok(['gc', '--repo', repo]);
    expect(after.deferred).to.equal(undefined);
    const out = path.join(t.dir, 'out.img');
    await ok(['restore', '--repo', repo, '--manifest', s.manifest as string, '--target', out]);
    expect(sha256(out)).to.equal(sha256(vol));
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);
  });

  it('concurrent backups of different volumes into one repository all succeed and dedup', async () => {
    await ok(['init', '--repo', repo, '--block-size', '16Ki', '--pack-size', '256Ki']);
    const shared = pseudoRandom(2 << 20, 77);
    const vols = [0, 1, 2].map((i) => {
      const v = path.join(t.dir, `vol${i}.img`);
      writeFileSync(v, Buffer.concat([shared, pseudoRandom(2 << 20, 30 + i)]));
      return v;
    });
    const results = await Promise.all(
      vols.map((v) => ok(['backup', '--repo', repo, '--source', v, '--tag', `vol=${path.basename(v)}`])),
    );
    for (const [i, r] of results.entries()) {
      const out = path.join(t.dir, `out${i}.img`);
      await ok(['restore', '--repo', repo, '--manifest', r.manifest as string, '--target', out]);
      expect(sha256(out)).to.equal(sha256(vols[i]!));
    }
    // Each volume's unique half is stored once; the shared half at most once per concurrent writer.
    const stats = await ok(['stats', '--repo', repo]);
    expect(stats.uniqueBytes).to.equal(4 * (2 << 20));
    expect(stats.dedupRatio as number).to.be.greaterThan(1.4);
    // Afterwards every block is known to the repository: a new backup of any volume stores nothing.
    const again = await ok(['backup', '--repo', repo, '--source', vols[1]!]);
    expect(again.blocksNew).to.equal(0);
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);
  });

  it('disk full on the directory backend: a clear storage failure (exit 7) and a repository that still verifies', async function () {
    const mnt = path.join(t.dir, 'small');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      this.skip(); // mounting a tmpfs needs root (CAP_SYS_ADMIN); nothing else simulates ENOSPC honestly
    }
    try {
      const small = path.join(mnt, 'repo');
      await ok(['init', '--repo', small, '--block-size', '16Ki', '--pack-size', '256Ki']);
      const vol = path.join(t.dir, 'vol.img');
      makeVolume(vol, 2 << 20, 4);
      const fits = await ok(['backup', '--repo', small, '--source', vol]);
      const big = path.join(t.dir, 'big.img');
      writeFileSync(big, pseudoRandom(6 << 20, 9));
      const r = await mover(['backup', '--repo', small, '--source', big, '--retry-attempts', '1']);
      expect(r.code).to.equal(7);
      expect(r.last.error).to.deep.include({ code: 'Storage' });
      expect((r.last.error as { message: string }).message).to.match(/ENOSPC|no space/i);
      expect(tempFiles(small)).to.deep.equal([]);
      const list = await ok(['list', '--repo', small, '--json']);
      expect((list.manifests as { id: string }[]).map((m) => m.id)).to.deep.equal([fits.manifest]);
      expect((await ok(['verify', '--repo', small, '--read-data'])).ok).to.equal(true);
      const out = path.join(t.dir, 'out.img');
      await ok(['restore', '--repo', small, '--manifest', fits.manifest as string, '--target', out]);
      expect(sha256(out)).to.equal(sha256(vol));
    } finally {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
    }
  });
});
