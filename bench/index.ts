/**
 * `npm run bench [-- name... [--option...]]`: runs every benchmark module in this folder, or the ones
 * named. A module is any top-level `bench/<name>.ts` (except this file) exporting
 * `run(args: string[]): Promise<void>`; it writes its figures to `bench/results/<name>.{json,md}`.
 * Benchmarks never run in `npm test`.
 */
import { readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a benchmark module exports. */
export interface BenchModule {
  run(args: string[]): Promise<void>;
}

async function available(): Promise<string[]> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const files = await readdir(here);
  return files
    .filter((f) => f.endsWith('.js') && f !== 'index.js')
    .map((f) => basename(f, '.js'))
    .sort();
}

const argv = process.argv.slice(2);
const all = await available();
const named = argv.filter((a) => !a.startsWith('-') && all.includes(a));
const unknown = argv.filter((a) => !a.startsWith('-') && !all.includes(a) && !a.includes('='));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s) ${unknown.join(', ')}; available: ${all.join(', ')}\n`);
  process.exit(2);
}
const options = argv.filter((a) => a.startsWith('-'));
let failed = false;
for (const name of named.length > 0 ? named : all) {
  process.stderr.write(`== bench ${name}\n`);
  const started = Date.now();
  try {
    const module = (await import(`./${name}.js`)) as BenchModule;
    await module.run(options);
    process.stderr.write(`== bench ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (error) {
    failed = true;
    process.stderr.write(
      `== bench ${name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
}
process.exit(failed ? 1 : 0);
