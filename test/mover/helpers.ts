/** Test helpers for the mover: deterministic volumes and `csbs mover` run as a child process. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, ftruncateSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled csbs entrypoint (tests run from dist/test). */
export const CSBS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/main.js');
export const KEY = 'correct horse battery staple';

/** Deterministic pseudo-random bytes (xorshift), so volumes are the same on every run. */
export function pseudoRandom(length: number, seed: number): Buffer {
  const buf = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  return buf;
}

/** Writes `data` at `offset` of the file at `file`. */
export function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * A sparse volume of `size` bytes: random regions, a compressible region, and zero gaps.
 * Layout per MiB i: random when i%3==0, text when i%3==1, zeros otherwise.
 */
export function makeVolume(file: string, size: number, seed = 1): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, size);
    const mib = 1 << 20;
    for (let i = 0; i * mib < size; i++) {
      const len = Math.min(mib, size - i * mib);
      if (i % 3 === 0) writeSync(fd, pseudoRandom(len, seed * 1000 + i), 0, len, i * mib);
      else if (i % 3 === 1)
        writeSync(
          fd,
          Buffer.alloc(len, `block ${i} of a compressible volume, seed ${seed}. `),
          0,
          len,
          i * mib,
        );
    }
  } finally {
    closeSync(fd);
  }
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'csbs-mover-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The outcome of one CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: Record<string, unknown>[];
  /** The last stdout line, parsed: the summary or the error. */
  last: Record<string, unknown>;
}

/** Runs `csbs mover <args>` with the test key in the environment unless `env` overrides it. */
export function mover(
  args: string[],
  env: Record<string, string | undefined> = {},
  onChild?: (c: ChildProcess) => void,
  user?: { uid: number; gid: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CSBS, 'mover', ...args], {
      env: { ...process.env, CSBS_REPOSITORY_KEY: KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...user,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    onChild?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, lines, last: lines[lines.length - 1] ?? {} });
    });
  });
}

/** Runs a mover command that must succeed and returns its summary. */
export async function ok(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<Record<string, unknown>> {
  const r = await mover(args, env);
  if (r.code !== 0) throw new Error(`csbs mover ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.last;
}
