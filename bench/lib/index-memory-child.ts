/**
 * Child process of `bench index-memory`: builds the mover's in-memory index for N synthetic blobs the
 * way a repository load does (entries decoded pack by pack, ids viewing the decoded object), then
 * prints the resident-memory growth and the lookup rate as JSON. A process of its own, so its RSS
 * says what the index costs and nothing else.
 */
import { randomBytes } from 'node:crypto';
import { BlobIndex } from '../../src/mover/repository/blob-index.js';
import type { BlobEntry } from '../../src/mover/repository/format.js';

const blobs = Number(process.argv[2]);
const perPack = 1000; // ~40 MiB packs of ~40 KiB sealed blocks
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

gc();
const before = process.memoryUsage().rss;
const index = new BlobIndex();
const probe: Buffer[] = [];
for (let p = 0; p * perPack < blobs; p++) {
  const n = Math.min(perPack, blobs - p * perPack);
  const ids = randomBytes(32 * n);
  const entries: BlobEntry[] = [];
  for (let i = 0; i < n; i++)
    entries.push({
      id: ids.subarray(i * 32, i * 32 + 32),
      type: 0,
      comp: 1,
      offset: i * 40_000,
      length: 40_000,
      rawLength: 65_536,
    });
  index.addPack({ packId: randomBytes(16).toString('hex'), size: n * 40_000, entries });
  if (p % 97 === 0) probe.push(Buffer.from(ids.subarray(0, 32)));
}
gc();
const rss = process.memoryUsage().rss - before;
const lookups = 1_000_000;
const started = process.hrtime.bigint();
let found = 0;
for (let i = 0; i < lookups; i++) if (index.has(probe[i % probe.length]!)) found++;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
if (found !== lookups) throw new Error(`lookups found ${found} of ${lookups}`);
process.stdout.write(
  JSON.stringify({ blobs, rssBytes: rss, lookupsPerSecond: Math.round(lookups / seconds) }),
);
