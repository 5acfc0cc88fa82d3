import { expect } from 'chai';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDuration } from '../../src/cli/mover.js';
import { orphanManifests } from '../../src/mover/gc.js';
import { makeVolume, mover, ok, pseudoRandom, sha256, tempDir, writeAt } from './helpers.js';

/** Every pack file of a directory repository. */
function packFiles(repo: string): string[] {
  const dir = path.join(repo, 'data');
  return readdirSync(dir).flatMap((sub) =>
    readdirSync(path.join(dir, sub)).map((f) => path.join(dir, sub, f)),
  );
}

describe('csbs mover list, stats, verify, delete, gc', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  let repo: string;
  const vols: string[] = [];
  beforeEach(async () => {
    t = tempDir();
    repo = path.join(t.dir, 'repo');
    vols.length = 0;
    for (let i = 0; i < 3; i++) {
      vols.push(path.join(t.dir, `vol${i}.img`));
      makeVolume(vols[i]!, 3 << 20, 10 + i);
    }
    await ok(['init', '--repo', repo, '--block-size', '16Ki', '--pack-size', '256Ki']);
  });
  afterEach(() => t.cleanup());

  const restoreRun = (manifest: string, target: string) =>
    mover(['restore', '--repo', repo, '--manifest', manifest, '--target', target]);
  const restoresTo = async (manifest: string, expected: string): Promise<void> => {
    const out = path.join(t.dir, `restore-${manifest}.img`);
    await ok(['restore', '--repo', repo, '--manifest', manifest, '--target', out]);
    expect(sha256(out)).to.equal(expected);
  };

  it('lists manifests with tags, and stats reports dedup and compression', async () => {
    const a = await ok(['backup', '--repo', repo, '--source', vols[0]!, '--tag', 'pvc=a']);
    const b = await ok(['backup', '--repo', repo, '--source', vols[0]!, '--parent', a.manifest as string]);
    const list = await ok(['list', '--repo', repo, '--json']);
    const ms = list.manifests as { id: string; type: string; tags: Record<string, string> }[];
    expect(ms.map((m) => m.id)).to.have.members([a.manifest, b.manifest]);
    expect(ms.find((m) => m.id === a.manifest)!.tags).to.deep.equal({ pvc: 'a' });
    expect(b).to.include({ blocksNew: 0, type: 'Incremental' });
    const table = await mover(['list', '--repo', repo]);
    expect(table.stdout).to.include(a.manifest as string);
    const stats = await ok(['stats', '--repo', repo]);
    expect(stats).to.include({ manifests: 2, logicalBytes: 2 * (3 << 20), dataBytes: 2 * (2 << 20) });
    expect(stats.dedupRatio as number).to.be.greaterThan(2); // two identical backups, repeated text blocks
    expect(stats.compressionRatio as number).to.be.greaterThan(1);
  });

  it('a flipped byte: verify and restore name the block and offset; other manifests still restore', async () => {
    const a = await ok(['backup', '--repo', repo, '--source', vols[0]!]);
    const before = new Set(packFiles(repo));
    const b = await ok(['backup', '--repo', repo, '--source', vols[1]!]);
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);
    // Damage the first blob of one of a's packs (its first 12 bytes are the nonce).
    const victim = [...before].sort()[0]!;
    const bytes = readFileSync(victim);
    bytes[40] ^= 0x01;
    writeFileSync(victim, bytes);

    const meta = await mover(['verify', '--repo', repo]);
    expect(meta.code).to.equal(0); // metadata checks cannot see a flipped data byte
    const v = await mover(['verify', '--repo', repo, '--read-data']);
    expect(v.code).to.equal(5);
    const bad = v.last.bad as {
      block: string;
      pack: string;
      reason: string;
      uses: { manifest: string; offset: number }[];
    }[];
    expect(bad).to.have.length(1);
    expect(bad[0]!.pack).to.equal(path.basename(victim));
    expect(bad[0]!.uses.length).to.be.greaterThan(0);
    expect(bad[0]!.uses.every((u) => u.manifest === a.manifest)).to.equal(true);

    const r = await restoreRun(a.manifest as string, path.join(t.dir, 'a.img'));
    expect(r.code).to.equal(5);
    const message = (r.last.error as { message: string }).message;
    expect(message).to.include(bad[0]!.block);
    expect(message).to.include(`offset ${bad[0]!.uses[0]!.offset}`);
    await restoresTo(b.manifest as string, sha256(vols[1]!));
  });

  it('a lost pack: restore writes every other block, then fails naming the missing pack and offsets', async () => {
    const a = await ok(['backup', '--repo', repo, '--source', vols[0]!]);
    // A full pack holds only data blocks (the manifest's pages go into the last, smaller one).
    const victim = packFiles(repo).sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
    rmSync(victim);
    const target = path.join(t.dir, 'a.img');
    const r = await restoreRun(a.manifest as string, target);
    expect(r.code).to.equal(5);
    const message = (r.last.error as { message: string }).message;
    expect(message).to.include(`pack ${path.basename(victim)}`);
    expect(message).to.include('not found');
    expect(message).to.match(/block [0-9a-f]{64} at offset \d+/);
    // Blocks of the other packs were restored: the target differs from the volume only where the lost pack's were.
    const want = readFileSync(vols[0]!);
    const got = readFileSync(target);
    let same = 0;
    for (let at = 0; at < want.length; at += 16384)
      if (want.subarray(at, at + 16384).equals(got.subarray(at, at + 16384))) same++;
    expect(same)
      .to.be.greaterThan(0)
      .and.lessThan(want.length / 16384);
  });

  it('deleting manifests in any order keeps the others restorable, before and after gc', async () => {
    const hashes: string[] = [];
    const ids: string[] = [];
    let parent: string | undefined;
    // A chain of incrementals of one volume, then another volume.
    for (let i = 0; i < 4; i++) {
      writeAt(vols[0]!, i * 300_000, pseudoRandom(40_000, 100 + i));
      const s = await ok([
        'backup',
        '--repo',
        repo,
        '--source',
        vols[0]!,
        ...(parent ? ['--parent', parent] : []),
      ]);
      parent = s.manifest as string;
      ids.push(parent);
      hashes.push(sha256(vols[0]!));
    }
    const other = await ok(['backup', '--repo', repo, '--source', vols[2]!]);
    for (const victim of [2, 0, 3]) {
      await ok(['delete', '--repo', repo, '--manifest', ids[victim]!]);
      const g = await ok(['gc', '--repo', repo]);
      expect(g.deferred).to.equal(undefined);
    }
    await restoresTo(ids[1]!, hashes[1]!);
    await restoresTo(other.manifest as string, sha256(vols[2]!));
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);
    const missing = await mover(['delete', '--repo', repo, '--manifest', ids[0]!]);
    expect(missing.code).to.equal(4);
  });

  it('gc reclaims the space of deleted manifests and repacks mostly-garbage packs', async () => {
    const a = await ok(['backup', '--repo', repo, '--source', vols[0]!]);
    const b = await ok(['backup', '--repo', repo, '--source', vols[1]!]);
    // c shares half of a's blocks: a's packs become half garbage once a is deleted.
    writeAt(vols[0]!, 0, pseudoRandom(1 << 20, 999));
    const c = await ok(['backup', '--repo', repo, '--source', vols[0]!, '--parent', a.manifest as string]);
    const before = await ok(['stats', '--repo', repo]);
    await ok(['delete', '--repo', repo, '--manifest', a.manifest as string]);
    const g = await ok(['gc', '--repo', repo, '--repack-below', '0.9']);
    expect(g.packsDeleted as number).to.be.greaterThan(0);
    expect(g.bytesFreed as number).to.be.greaterThan(0);
    expect(g.packsRepacked as number).to.be.greaterThan(0);
    const after = await ok(['stats', '--repo', repo]);
    // gc reports what the repository occupies afterwards (the controller's status.storedBytes).
    expect(g.storedBytes).to.equal(after.storedBytes);
    expect(after.storedBytes as number).to.be.lessThan(before.storedBytes as number);
    expect(after.storedBytes as number).to.be.lessThan((after.referencedStoredBytes as number) * 1.3);
    await restoresTo(b.manifest as string, sha256(vols[1]!));
    await restoresTo(c.manifest as string, sha256(vols[0]!));
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);
    const again = await ok(['gc', '--repo', repo]);
    expect(again).to.include({ packsDeleted: 0 });
  });

  it('gc --live-manifests deletes unlisted manifests older than --orphan-grace and frees their blocks', async () => {
    const a = await ok(['backup', '--repo', repo, '--source', vols[0]!]);
    const b = await ok(['backup', '--repo', repo, '--source', vols[1]!]);
    const orphan = await ok(['backup', '--repo', repo, '--source', vols[2]!]);
    const liveFile = path.join(t.dir, 'live.json');
    writeFileSync(liveFile, JSON.stringify([a.manifest, b.manifest]));
    const ids = async () =>
      ((await ok(['list', '--repo', repo, '--json'])).manifests as { id: string }[]).map((m) => m.id).sort();

    // Without the flag, gc reports and deletes no manifest.
    const plain = await ok(['gc', '--repo', repo]);
    expect(plain).not.to.have.property('orphanManifestsDeleted');
    // Younger than the grace (the default 24h): kept, its backup may be writing its status now.
    const young = await ok(['gc', '--repo', repo, '--live-manifests', liveFile]);
    expect(young).to.include({ orphanManifestsDeleted: 0, packsDeleted: 0 });
    expect(young.orphanManifests).to.deep.equal([]);
    expect(await ids()).to.have.length(3);

    const before = await ok(['stats', '--repo', repo]);
    writeFileSync(liveFile, `${a.manifest as string}\n${b.manifest as string}\n`); // one id a line
    const g = await ok(['gc', '--repo', repo, '--live-manifests', liveFile, '--orphan-grace', '0s']);
    expect(g).to.include({ orphanManifestsDeleted: 1 });
    expect(g.orphanManifests).to.deep.equal([orphan.manifest]);
    expect(g.bytesFreed as number).to.be.greaterThan(0);
    expect(await ids()).to.deep.equal([a.manifest, b.manifest].sort());
    // vol2's blocks were its own: about a third of the data is gone.
    const after = await ok(['stats', '--repo', repo]);
    expect(after.storedBytes as number).to.be.lessThan((before.storedBytes as number) * 0.8);
    await restoresTo(a.manifest as string, sha256(vols[0]!));
    await restoresTo(b.manifest as string, sha256(vols[1]!));
    expect((await ok(['verify', '--repo', repo, '--read-data'])).ok).to.equal(true);

    // A file naming no manifest is refused rather than read as "delete everything"; [] says it.
    writeFileSync(liveFile, '\n');
    const empty = await mover(['gc', '--repo', repo, '--live-manifests', liveFile, '--orphan-grace', '0']);
    expect(empty.code).to.equal(2);
    const bad = await mover(['gc', '--repo', repo, '--live-manifests', liveFile, '--orphan-grace', '1y']);
    expect(bad.code).to.equal(2);
    expect(await ids()).to.have.length(2);
  });
});

describe('gc orphan selection and durations', () => {
  const now = Date.parse('2025-01-02T00:00:00Z');
  const hour = 3_600_000;
  const at = (msAgo: number) => new Date(now - msAgo).toISOString();
  const cases: { name: string; time: string; live?: boolean; deleted: boolean }[] = [
    { name: 'live and old', time: at(100 * hour), live: true, deleted: false },
    { name: 'orphan past the grace', time: at(25 * hour), deleted: true },
    { name: 'orphan within the grace', time: at(23 * hour), deleted: false },
    { name: 'orphan with no readable time', time: 'yesterday-ish', deleted: false },
  ];
  it('deletes exactly the unlisted manifests older than the grace', () => {
    const manifests = cases.map((c, i) => ({ id: `m${i}`, time: c.time }));
    const live = new Set(cases.flatMap((c, i) => (c.live ? [`m${i}`] : [])));
    const doomed = new Set(orphanManifests(manifests, live, 24 * hour, now));
    cases.forEach((c, i) => expect(doomed.has(`m${i}`), c.name).to.equal(c.deleted));
  });

  it('parses durations', () => {
    const table: [string, number][] = [
      ['24h', 24 * hour],
      ['30m', 30 * 60_000],
      ['1h30m', 90 * 60_000],
      ['90', 90_000],
      ['0', 0],
      ['0s', 0],
      ['500ms', 500],
      ['2d', 48 * hour],
    ];
    for (const [text, ms] of table) expect(parseDuration(text, '--x'), text).to.equal(ms);
    for (const text of ['', '1y', '-5s', 'h', '5 s'])
      expect(() => parseDuration(text, '--x'), text).to.throw();
  });
});
