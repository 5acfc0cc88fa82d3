/**
 * Runs a benchmarked process under GNU time (`/usr/bin/time`) for its peak RSS and CPU times, and
 * measures wall time and repository growth around it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one measured process did. */
export interface Measured {
  seconds: number;
  peakRssMiB: number;
  userSeconds: number;
  systemSeconds: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args` with GNU time; rejects with its stderr when it fails (unless `allowFail`). */
export async function measure(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; allowFail?: boolean } = {},
): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'csbs-bench-time-'));
  const timeFile = join(dir, 'time');
  try {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, command, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Keep only the tail of stdout: progress lines can be many; the summary is last.
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-1_000_000);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-100_000);
    });
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code ?? 1));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const timeLines = (await readFile(timeFile, 'utf8')).trim().split('\n');
    const [rssKiB, user, sys] = timeLines[timeLines.length - 1].split(' ').map(Number);
    if (exitCode !== 0 && !options.allowFail) {
      throw new Error(`${command} ${args.join(' ')} exited ${exitCode}: ${stderr.slice(-2000)}`);
    }
    return {
      seconds,
      peakRssMiB: rssKiB / 1024,
      userSeconds: user,
      systemSeconds: sys,
      exitCode,
      stdout,
      stderr,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Total apparent size in bytes of the files under `dir`. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

/** Finds the first regular file named `name` under `dir` (restic restores the absolute source path). */
export async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return path;
    if (entry.isDirectory()) {
      const found = await findFile(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** The last non-empty line of `text`. */
export function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines[lines.length - 1] ?? '';
}
