/** Healing a damaged repository through `csbs mover`: the damaged record, and backups that write again. */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeVolume, mover, ok, sha256, tempDir } from './helpers.js';

/** Every pack file of a directory repository. */
function packFiles(repo: string): string[] {
  const dir = path.join(repo, 'data');
  return readdirSync(dir).flatMap((sub) =>
    readdirSync(path.join(dir, sub)).map((f) => path.join(dir, sub, f)),
  );
}

/** The blob ids in the repository's damaged record. */
function damagedRecord(repo: string): string[] {
  const dir = path.join(repo, 'damaged');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Flips one byte of the first blob of the largest pack (a full pack holds data blocks only). */
function flipByte(repo: string): string {
  const victim = packFiles(repo).sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
  const bytes = readFileSync(victim);
  bytes[40]! ^= 0x01; // past the blob's 12-byte nonce
  writeFileSync(victim, bytes);
  return victim;
}

describe('csbs mover healing', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  let repo: string;
  let vol: string;
  beforeEach(async () => {
    t = tempDir();
    repo = path.join(t.dir, 'repo');
    vol = path.join(t.dir, 'vol.img');
    makeVolume(vol, 3 << 20, 21);
    await ok(['init', '--repo', repo, '--block-size', '16Ki', '--pack-size', '256Ki']);
  });
  afterEach(() => t.cleanup());

  const restoreRun = (manifest: string, name: string) =>
    mover(['restore', '--repo', repo, '--manifest', manifest, '--target', path.join(t.dir, name)]);
  const restoresTo = async (manifest: string, expected: string): Promise<void> => {
    const r = await restoreRun(manifest, `restore-${manifest}.img`);
    expect(r.code, r.stderr).to.equal(0);
    expect(sha256(path.join(t.dir, `restore-${manifest}.img`))).to.equal(expected);
  };

  it('verify records a flipped byte; a full backup of the same data writes it again and heals the old manifest', async () => {
    const old = await ok(['backup', '--repo', repo, '--source', vol]);
    const victim = flipByte(repo);
    const v = await mover(['verify', '--repo', repo, '--read-data']);
    expect(v.code).to.equal(5);
    expect(v.last.damagedManifests).to.deep.equal([old.manifest]);
    const bad = v.last.bad as { block: string; pack: string }[];
    expect(bad.map((b) => b.pack)).to.deep.equal([path.basename(victim)]);
    expect(damagedRecord(repo)).to.deep.equal([bad[0]!.block]);
    expect((await restoreRun(old.manifest as string, 'before.img')).code).to.equal(5);

    const fresh = await ok(['backup', '--repo', repo, '--source', vol]);
    expect(fresh.type).to.equal('Full');
    expect(fresh.repairedBlobs as number).to.be.at.least(1);
    expect(fresh.bytesNew as number).to.be.greaterThan(0);
    expect(damagedRecord(repo)).to.deep.equal([]);

    // Blob ids are content hashes: the old manifest now reads the new copy.
    await restoresTo(old.manifest as string, sha256(vol));
    await restoresTo(fresh.manifest as string, sha256(vol));
    const after = await mover(['verify', '--repo', repo, '--read-data']);
    expect(after.code, after.stdout).to.equal(0);
    expect(after.last.damagedManifests).to.deep.equal([]);

    // gc keeps the good copy winning: the damaged pack's other blocks are repacked, the bad one dropped.
    const g = await ok(['gc', '--repo', repo, '--repack-below', '0.99']);
    expect(g.packsRepacked as number).to.be.at.least(1);
    expect(existsSync(victim)).to.equal(false);
    await restoresTo(old.manifest as string, sha256(vol));
    expect((await mover(['verify', '--repo', repo, '--read-data'])).code).to.equal(0);
  });

  it('a restore records the bad block; until a backup writes it, even a metadata verify fails; then the backup heals it', async () => {
    const old = await ok(['backup', '--repo', repo, '--source', vol]);
    flipByte(repo);
    const r = await restoreRun(old.manifest as string, 'before.img');
    expect(r.code).to.equal(5);
    const recorded = damagedRecord(repo);
    expect(recorded).to.have.length(1);
    expect((r.last.error as { message: string }).message).to.include(recorded[0]);

    const meta = await mover(['verify', '--repo', repo]);
    expect(meta.code).to.equal(5);
    expect(meta.last.damagedManifests).to.deep.equal([old.manifest]);
    expect((meta.last.bad as { reason: string }[])[0]!.reason).to.match(/^recorded damaged: /);

    const fresh = await ok(['backup', '--repo', repo, '--source', vol]);
    expect(fresh).to.include({ repairedBlobs: 1 });
    expect(fresh.bytesNew as number).to.be.greaterThan(0);
    expect(damagedRecord(repo)).to.deep.equal([]);
    await restoresTo(old.manifest as string, sha256(vol));
    await restoresTo(fresh.manifest as string, sha256(vol));
    expect((await mover(['verify', '--repo', repo, '--read-data'])).code).to.equal(0);
  });

  it('a lost pack: verify records its blocks, a backup writes them again, gc drops the lost pack from the index', async () => {
    const old = await ok(['backup', '--repo', repo, '--source', vol]);
    const victim = packFiles(repo).sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
    rmSync(victim);
    const v = await mover(['verify', '--repo', repo]);
    expect(v.code).to.equal(5);
    expect(v.last.damagedManifests).to.deep.equal([old.manifest]);
    const lost = damagedRecord(repo);
    expect(lost.length).to.be.greaterThan(1);

    const fresh = await ok(['backup', '--repo', repo, '--source', vol]);
    expect(fresh.repairedBlobs).to.equal(lost.length);
    expect(damagedRecord(repo)).to.deep.equal([]);
    await restoresTo(old.manifest as string, sha256(vol));
    expect((await ok(['gc', '--repo', repo])).deferred).to.equal(undefined);
    await restoresTo(old.manifest as string, sha256(vol));
    expect((await mover(['verify', '--repo', repo, '--read-data'])).code).to.equal(0);
  });
});
