import { expect } from 'chai';
import {
  chmodSync,
  chownSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { KEY, makeVolume, mover, ok, pseudoRandom, sha256, tempDir, writeAt } from './helpers.js';

describe('csbs mover (CLI, directory repository)', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let repo: string;
  let vol: string;
  beforeEach(async () => {
    t = tempDir();
    repo = path.join(t.dir, 'repo');
    vol = path.join(t.dir, 'vol.img');
    makeVolume(vol, 6 << 20);
    await ok(['init', '--repo', repo, '--block-size', '16Ki', '--pack-size', '1Mi']);
  });
  afterEach(() => t.cleanup());

  it('backs up and restores a volume byte for byte, the summary last', async () => {
    const r = await mover([
      'backup',
      '--repo',
      repo,
      '--source',
      vol,
      '--progress-interval',
      '0',
      '--tag',
      'pvc=disk0',
    ]);
    expect(r.code).to.equal(0);
    expect(r.lines.length).to.be.greaterThan(1);
    expect(r.lines[0]).to.include({ phase: 'backup', bytesTotal: 6 << 20 });
    const s = r.last;
    expect(s).to.include({ type: 'Full', sizeBytes: 6 << 20, bytesRead: 6 << 20 });
    expect(s.blocksZero).to.equal((2 << 20) / 16384); // MiB 2 and 5 are zeros
    expect(s.blocksNew as number).to.be.greaterThan(0);
    // The compressible MiBs repeat one 16 KiB block pattern: stored once, and compressed.
    expect(s.bytesNew as number).to.be.lessThan((2 << 20) + 512 * 1024);
    const out = path.join(t.dir, 'out.img');
    const rs = await ok(['restore', '--repo', repo, '--manifest', s.manifest as string, '--target', out]);
    expect(rs).to.include({ sizeBytes: 6 << 20 });
    expect(sha256(out)).to.equal(sha256(vol));
  });

  for (const compression of ['lz4', 'none'] as const)
    it(`with --compression ${compression}, restores byte for byte and verifies with --read-data`, async () => {
      const other = path.join(t.dir, `repo-${compression}`);
      await ok(['init', '--repo', other, '--block-size', '16Ki', '--compression', compression]);
      const s = await ok(['backup', '--repo', other, '--source', vol]);
      // Every new block stored whole (plus its seal) with `none`; lz4 shrinks the compressible ones.
      const whole = (s.blocksNew as number) * 16384;
      if (compression === 'none') expect(s.bytesNew as number).to.be.at.least(whole);
      else expect(s.bytesNew as number).to.be.lessThan(whole * 0.8);
      const out = path.join(t.dir, `out-${compression}.img`);
      await ok(['restore', '--repo', other, '--manifest', s.manifest as string, '--target', out]);
      expect(sha256(out)).to.equal(sha256(vol));
      expect((await mover(['verify', '--repo', other, '--read-data'])).code).to.equal(0);
    });

  it('an incremental stores only changed blocks and each manifest restores on its own', async () => {
    const full = await ok(['backup', '--repo', repo, '--source', vol]);
    writeAt(vol, 100_000, pseudoRandom(5000, 7)); // touches 1 block
    writeAt(vol, (5 << 20) + 3, Buffer.from('x')); // a hole gets data
    const before = sha256(vol);
    const inc = await ok(['backup', '--repo', repo, '--source', vol, '--parent', full.manifest as string]);
    expect(inc).to.include({ type: 'Incremental', parent: full.manifest, blocksNew: 2 });
    expect(inc.bytesNew as number).to.be.lessThan(64 * 1024);
    const out = path.join(t.dir, 'out.img');
    await ok(['restore', '--repo', repo, '--manifest', inc.manifest as string, '--target', out]);
    expect(sha256(out)).to.equal(before);
  });

  it('--changed-extents reads only the reported ranges and takes every other block from the parent', async () => {
    const full = await ok(['backup', '--repo', repo, '--source', vol]);
    writeAt(vol, 100_000, pseudoRandom(5000, 8)); // block 6
    writeAt(vol, (3 << 20) + 20_000, pseudoRandom(3000, 9)); // block 193
    const extents = path.join(t.dir, 'extents.json');
    writeFileSync(
      extents,
      JSON.stringify([
        { offset: 100_000, length: 5000 },
        { offset: (3 << 20) + 20_000, length: 3000 },
      ]),
    );
    const withExtents = [
      'backup',
      '--repo',
      repo,
      '--source',
      vol,
      '--parent',
      full.manifest as string,
      '--changed-extents',
      extents,
    ];
    const inc = await ok(withExtents);
    // Two 16 KiB blocks read, both new; the other 382 blocks come from the parent unread.
    expect(inc).to.include({ type: 'Incremental', bytesRead: 2 * 16384, blocksNew: 2 });
    const out = path.join(t.dir, 'out.img');
    await ok(['restore', '--repo', repo, '--manifest', inc.manifest as string, '--target', out]);
    expect(sha256(out)).to.equal(sha256(vol));

    // Bad input: a usage error (exit 2) that names the entry and field, and no manifest.
    writeFileSync(
      extents,
      JSON.stringify([
        { offset: 0, length: 10 },
        { offset: -1, length: 5 },
      ]),
    );
    const bad = await mover(withExtents);
    expect(bad.code).to.equal(2);
    expect((bad.last.error as { message: string }).message).to.include('entry 1 field offset');
    const noParent = await mover(['backup', '--repo', repo, '--source', vol, '--changed-extents', extents]);
    expect(noParent.code).to.equal(2);
    expect((noParent.last.error as { message: string }).message).to.include('needs --parent');
    const list = await ok(['list', '--repo', repo, '--json']);
    expect(list.manifests as unknown[]).to.have.length(2);
  });

  it('--idempotency-key: a retried backup reports the finished manifest without reading the source', async () => {
    const keyed = ['backup', '--repo', repo, '--idempotency-key', 'ns/backup-1/disk0', '--tag', 'pvc=disk0'];
    const first = await ok([...keyed, '--source', vol]);
    expect(first.reused).to.equal(undefined);
    // A retried Job on a node where the source is gone: nothing is read, the first run is reported.
    const again = await ok([...keyed, '--source', path.join(t.dir, 'gone.img')]);
    expect(again).to.include({
      manifest: first.manifest,
      reused: true,
      type: 'Full',
      sizeBytes: first.sizeBytes,
      bytesNew: first.bytesNew,
      blocksNew: first.blocksNew,
      packsWritten: first.packsWritten,
    });
    const list = await ok(['list', '--repo', repo, '--json']);
    const ms = list.manifests as { id: string; tags: Record<string, string> }[];
    expect(ms.map((m) => m.id)).to.deep.equal([first.manifest]);
    expect(ms[0]!.tags).to.deep.equal({ pvc: 'disk0', 'csbs.dev/idempotency-key': 'ns/backup-1/disk0' });

    // Another key, or none, is another backup.
    const other = await ok(['backup', '--repo', repo, '--source', vol, '--idempotency-key', 'ns/backup-2']);
    const plain = await ok(['backup', '--repo', repo, '--source', vol]);
    expect(new Set([first.manifest, other.manifest, plain.manifest]).size).to.equal(3);
    expect(other.reused).to.equal(undefined);
    expect(plain.reused).to.equal(undefined);
    const long = await mover([
      'backup',
      '--repo',
      repo,
      '--source',
      vol,
      '--idempotency-key',
      'k'.repeat(254),
    ]);
    expect(long.code).to.equal(2);
    expect((await ok(['list', '--repo', repo, '--json'])).manifests as unknown[]).to.have.length(3);
  });

  it('restore --only-changed rewrites only the differing blocks', async () => {
    const full = await ok(['backup', '--repo', repo, '--source', vol]);
    const out = path.join(t.dir, 'out.img');
    await ok(['restore', '--repo', repo, '--manifest', full.manifest as string, '--target', out]);
    writeAt(out, 40_000, pseudoRandom(100, 3)); // block 2
    writeAt(out, (2 << 20) + 5, Buffer.from('dirt')); // a zero block made non-zero
    const r = await ok([
      'restore',
      '--repo',
      repo,
      '--manifest',
      full.manifest as string,
      '--target',
      out,
      '--only-changed',
    ]);
    expect(r).to.include({ bytesWritten: 2 * 16384, blocksWritten: 2 });
    expect(sha256(out)).to.equal(sha256(vol));
  });

  it('init --if-missing is idempotent with the right key and fails with exit 3 on a wrong one', async () => {
    const again = await ok(['init', '--repo', repo, '--if-missing']);
    expect(again).to.include({ created: false, blockSize: 16384, storedBytes: 0 });
    await ok(['backup', '--repo', repo, '--source', vol]);
    const stats = await ok(['stats', '--repo', repo]);
    expect(await ok(['init', '--repo', repo, '--if-missing'])).to.include({ storedBytes: stats.storedBytes });
    const dup = await mover(['init', '--repo', repo]);
    expect(dup.code).to.equal(2);
    const wrong = await mover(['init', '--repo', repo, '--if-missing'], {
      CSBS_REPOSITORY_KEY: 'not the key',
    });
    expect(wrong.code).to.equal(3);
    expect(wrong.last).to.deep.include({ exitCode: 3 });
  });

  it('a wrong key fails with exit 3, writes the error to --summary-file and changes nothing', async () => {
    const summaryFile = path.join(t.dir, 'summary.json');
    const r = await mover(['backup', '--repo', repo, '--source', vol, '--summary-file', summaryFile], {
      CSBS_REPOSITORY_KEY: 'wrong',
    });
    expect(r.code).to.equal(3);
    const written = JSON.parse(readFileSync(summaryFile, 'utf8')) as {
      error: { code: string };
      exitCode: number;
    };
    expect(written).to.deep.include({ exitCode: 3 });
    expect(written.error.code).to.equal('WrongKey');
    expect(r.stdout + r.stderr).not.to.include('wrong"');
    expect(existsSync(path.join(repo, 'locks'))).to.equal(false);
    expect(existsSync(path.join(repo, 'data'))).to.equal(false);
  });

  it('reads the key from --key-file (a trailing newline is ignored)', async () => {
    const keyFile = path.join(t.dir, 'key');
    writeFileSync(keyFile, `${KEY}\n`);
    const s = await ok(['backup', '--repo', repo, '--source', vol, '--key-file', keyFile], {
      CSBS_REPOSITORY_KEY: undefined,
    });
    expect(s.type).to.equal('Full');
  });

  it('a volume that ends in a short block restores byte for byte; a target in a missing directory exits 6', async () => {
    const odd = path.join(t.dir, 'odd.img');
    makeVolume(odd, (1 << 20) + 12345, 3);
    const s = await ok(['backup', '--repo', repo, '--source', odd]);
    const out = path.join(t.dir, 'odd-out.img');
    await ok(['restore', '--repo', repo, '--manifest', s.manifest as string, '--target', out]);
    expect(statSync(out).size).to.equal((1 << 20) + 12345);
    expect(sha256(out)).to.equal(sha256(odd));
    const r = await mover([
      'restore',
      '--repo',
      repo,
      '--manifest',
      s.manifest as string,
      '--target',
      path.join(t.dir, 'no-such-dir', 'x.img'),
    ]);
    expect(r.code, r.stderr).to.equal(6);
    expect(r.last.error).to.include({ code: 'TargetUnwritable' });
  });

  it('unknown manifest or parent exits 4; a target smaller than the volume exits 6 and is not written', async () => {
    const full = await ok(['backup', '--repo', repo, '--source', vol]);
    const r1 = await mover([
      'restore',
      '--repo',
      repo,
      '--manifest',
      'ffffffffffffffff',
      '--target',
      path.join(t.dir, 'x'),
    ]);
    expect(r1.code).to.equal(4);
    expect(existsSync(path.join(t.dir, 'x'))).to.equal(false);
    const r2 = await mover(['backup', '--repo', repo, '--source', vol, '--parent', 'ffffffffffffffff']);
    expect(r2.code).to.equal(4);
    expect((r2.last.error as { message: string }).message).to.include('parent manifest ffffffffffffffff');
    const small = path.join(t.dir, 'small.img');
    writeFileSync(small, Buffer.alloc(1 << 20, 7));
    const r3 = await mover([
      'restore',
      '--repo',
      repo,
      '--manifest',
      full.manifest as string,
      '--target',
      small,
    ]);
    expect(r3.code).to.equal(6);
    expect((r3.last.error as { code: string }).code).to.equal('TargetTooSmall');
    expect(readFileSync(small).equals(Buffer.alloc(1 << 20, 7))).to.equal(true);
    expect(statSync(small).size).to.equal(1 << 20);
  });

  it('an unreadable or missing source exits 6', async () => {
    const r = await mover(['backup', '--repo', repo, '--source', path.join(t.dir, 'nope.img')]);
    expect(r.code).to.equal(6);
    expect((r.last.error as { code: string }).code).to.equal('SourceUnreadable');
    const dir = await mover(['backup', '--repo', repo, '--source', t.dir]);
    expect(dir.code).to.equal(6);
  });

  it('as a non-root user, a volume it may not open exits 6 and says how to grant access', async function () {
    if (process.getuid?.() !== 0) this.skip(); // needs root to hand files to another user
    const nobody = { uid: 65532, gid: 65532 };
    const full = await ok(['backup', '--repo', repo, '--source', vol]);
    for (const p of [t.dir, repo]) chmodSync(p, 0o755);
    // A repository root wrote (files 0600) is out of reach, and the error says what to do.
    const denied = await mover(['list', '--repo', repo], {}, undefined, nobody);
    expect(denied.code, denied.stderr).to.equal(7);
    expect((denied.last.error as { message: string }).message).to.match(
      /permission denied.*running as uid 65532.*mount the repository's PVC with fsGroup 65532 or chown it/,
    );
    // The user owns the repository (as in a mover Job) but not the volumes, which stay root's, 0600.
    chownTree(repo, nobody.uid, nobody.gid);
    chmodSync(vol, 0o600);
    const target = path.join(t.dir, 'target.img');
    writeFileSync(target, Buffer.alloc(statSync(vol).size, 9));
    chmodSync(target, 0o600);
    const hint =
      /running as uid 65532, groups .*CSBS_BLOCK_DEVICE_GROUP.*device_ownership_from_security_context/;
    const b = await mover(['backup', '--repo', repo, '--source', vol], {}, undefined, nobody);
    expect(b.code, b.stderr).to.equal(6);
    expect(b.last.error).to.include({ code: 'SourceUnreadable' });
    expect((b.last.error as { message: string }).message)
      .to.match(hint)
      .and.include('permission denied');
    const restoreTo = (into: string) =>
      mover(
        ['restore', '--repo', repo, '--manifest', full.manifest as string, '--target', into],
        {},
        undefined,
        nobody,
      );
    const r = await restoreTo(target);
    expect(r.code, r.stderr).to.equal(6);
    expect(r.last.error).to.include({ code: 'TargetUnwritable' });
    expect((r.last.error as { message: string }).message).to.match(hint);
    expect(readFileSync(target).equals(Buffer.alloc(statSync(vol).size, 9))).to.equal(true, 'untouched');
    // Nor may it create a target in root's directory.
    const fresh = path.join(t.dir, 'fresh.img');
    const r2 = await restoreTo(fresh);
    expect(r2.code, r2.stderr).to.equal(6);
    expect(r2.last.error).to.include({ code: 'TargetUnwritable' });
    expect(existsSync(fresh)).to.equal(false);
  });

  it('usage errors exit 2', async () => {
    const r = await mover(['backup', '--repo', repo]);
    expect(r.code).to.equal(2);
    const nokey = await mover(['backup', '--repo', repo, '--source', vol], {
      CSBS_REPOSITORY_KEY: undefined,
    });
    expect(nokey.code).to.equal(2);
    const missing = await mover(['backup', '--repo', path.join(t.dir, 'none'), '--source', vol]);
    expect(missing.code).to.equal(4);
  });
});

/** `chown -R`. */
function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}
