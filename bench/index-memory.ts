/**
 * `npm run bench index-memory`: what the mover's in-memory index costs per blob. A backup or restore
 * holds the whole repository's index, so this, not the volume size, is what grows a mover's memory:
 * it says how large a repository fits in the 256 MiB budget next to the data path (~200 MiB peak in
 * `bench mover`). Writes `bench/results/index-memory.{json,md}`.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run$ = promisify(execFile);
const sizes = [250_000, 1_000_000, 4_000_000];
const BLOCK = 64 * 1024;
const MiB = 2 ** 20;

interface Row {
  blobs: number;
  rssBytes: number;
  lookupsPerSecond: number;
}

/** Runs the benchmark and writes its results. */
export async function run(): Promise<void> {
  const child = fileURLToPath(new URL('./lib/index-memory-child.js', import.meta.url));
  const rows: Row[] = [];
  for (const blobs of sizes) {
    const { stdout } = await run$(process.execPath, ['--expose-gc', child, String(blobs)], {
      maxBuffer: 1 << 20,
    });
    rows.push(JSON.parse(stdout) as Row);
    process.stderr.write(
      `[bench index-memory] ${blobs} blobs: ${(rows.at(-1)!.rssBytes / MiB).toFixed(1)} MiB\n`,
    );
  }
  const perBlob = rows.at(-1)!.rssBytes / rows.at(-1)!.blobs;
  const fits = Math.floor((56 * MiB) / perBlob);
  const lines = [
    '# Index memory benchmark',
    '',
    `${new Date().toISOString()}, Node ${process.version}. Produced by \`npm run bench index-memory\`: the`,
    "mover's in-memory index built for N synthetic blobs in a process of its own (resident memory after",
    'a full GC, minus before), and its lookup rate.',
    '',
    '| blobs | unique data at 64 KiB blocks | RSS growth | bytes per blob | lookups per second |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.blobs.toLocaleString('en-US')} | ${((r.blobs * BLOCK) / 2 ** 30).toFixed(0)} GiB | ${(r.rssBytes / MiB).toFixed(1)} MiB | ${(r.rssBytes / r.blobs).toFixed(0)} | ${r.lookupsPerSecond.toLocaleString('en-US')} |`,
    ),
    '',
    `At ${perBlob.toFixed(0)} bytes per blob, the ~56 MiB the 256 MiB budget leaves beside the data path hold`,
    `${fits.toLocaleString('en-US')} blobs: ${((fits * BLOCK) / 2 ** 30).toFixed(0)} GiB of unique 64 KiB blocks in one repository.`,
    '',
  ];
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index-memory.json'), JSON.stringify({ rows }, null, 2) + '\n');
  await writeFile(join(dir, 'index-memory.md'), lines.join('\n'));
}
