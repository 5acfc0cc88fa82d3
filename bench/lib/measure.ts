/**
 * Runs a benchmarked process under GNU time (`/usr/bin/time`) for its peak RSS and CPU times, and
 * measures wall time and repository growth around it. Every measured process is timed until what
 * it wrote is on disk: the system is synced before it starts (untimed) and after it exits (timed),
 * since tools differ in what they fsync themselves (restic and borg do not fsync restored files).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one measured process did. */
export interface Measured {
  /** Wall seconds from start until its writes were on disk (includes {@link syncSeconds}). */
  seconds: number;
  /** Seconds of the `sync` after the process exited: what it left unflushed. */
  syncSeconds: number;
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
    await syncAll();
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
    const exited = process.hrtime.bigint();
    await syncAll();
    const done = process.hrtime.bigint();
    const seconds = Number(done - started) / 1e9;
    const syncSeconds = Number(done - exited) / 1e9;
    const timeLines = (await readFile(timeFile, 'utf8')).trim().split('\n');
    const [rssKiB, user, sys] = timeLines[timeLines.length - 1].split(' ').map(Number);
    if (exitCode !== 0 && !options.allowFail) {
      throw new Error(`${command} ${args.join(' ')} exited ${exitCode}: ${stderr.slice(-2000)}`);
    }
    return {
      seconds,
      syncSeconds,
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

/** Flushes every file system (sync(1)). */
export function syncAll(): Promise<void> {
  return new Promise((resolve, reject) => execFile('sync', (err) => (err ? reject(err) : resolve())));
}

/**
 * Empties the page cache so the next step reads from disk (a cold repository, as a restore days
 * after the backup would). Needs root; returns false when not allowed.
 */
export async function dropCaches(): Promise<boolean> {
  await syncAll();
  try {
    await writeFile('/proc/sys/vm/drop_caches', '1\n');
    return true;
  } catch {
    return false;
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
