/**
 * The backup tools the mover bench compares, behind one small interface: csbs (this package's
 * `csbs mover`), restic and borg, each with encryption on and comparable compression.
 */
import { execFile } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findFile, lastLine, measure, type Measured } from './measure.js';

const run = promisify(execFile);

/** A backup's id and its own summary as the tool printed it. */
export interface BackupResult {
  measured: Measured;
  id: string;
  summary: unknown;
}

/** One tool under test. */
export interface Tool {
  name: string;
  /** The settings that matter for a fair comparison, in words. */
  settings: string;
  version(): Promise<string>;
  init(repo: string): Promise<void>;
  backup(repo: string, source: string, parent: string | undefined, label: string): Promise<BackupResult>;
  /** Restores `id`; returns the restored image file. `target` is a path the tool may create. */
  restore(
    repo: string,
    id: string,
    target: string,
    volumeBytes: number,
    onlyChanged: boolean,
  ): Promise<{ measured: Measured; file: string }>;
}

const passphrase = 'csbs-bench-passphrase-not-secret';

/** restic 0.14+ (repository v2: zstd "auto" compression, AES-256-CTR + Poly1305, content-defined chunks). */
export function restic(work: string): Tool {
  const env = { ...process.env, RESTIC_PASSWORD: passphrase, RESTIC_CACHE_DIR: join(work, 'restic-cache') };
  return {
    name: 'restic',
    settings:
      'repository v2, compression auto (zstd), encryption always on (AES-256-CTR + Poly1305-AES), local cache',
    async version() {
      return (await run('restic', ['version'])).stdout.trim();
    },
    async init(repo) {
      await measure('restic', ['init', '--repo', repo, '--repository-version', '2'], { env });
    },
    async backup(repo, source) {
      const measured = await measure(
        'restic',
        ['backup', '--repo', repo, '--json', '--host', 'bench', source],
        { env },
      );
      const summary = measured.stdout
        .split('\n')
        .filter((l) => l.includes('"summary"'))
        .map((l) => JSON.parse(l) as { snapshot_id: string })[0];
      if (!summary) throw new Error(`restic printed no summary: ${measured.stdout.slice(-500)}`);
      return { measured, id: summary.snapshot_id, summary };
    },
    async restore(repo, id, target, _volumeBytes, _onlyChanged) {
      await mkdir(target, { recursive: true });
      const measured = await measure('restic', ['restore', id, '--repo', repo, '--target', target], { env });
      const file = await findFile(target, 'disk.img');
      if (!file) throw new Error(`restic restore left no disk.img under ${target}`);
      return { measured, file };
    },
  };
}

/** borg 1.2 (repokey: AES-256-CTR + HMAC-SHA256, zstd level 3, buzhash content-defined chunks). */
export function borg(work: string): Tool {
  const env = {
    ...process.env,
    BORG_PASSPHRASE: passphrase,
    BORG_BASE_DIR: join(work, 'borg-base'),
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  };
  return {
    name: 'borg',
    settings:
      'encryption repokey (AES-256-CTR + HMAC-SHA256), --compression zstd,3, default chunker, files cache',
    async version() {
      return (await run('borg', ['--version'])).stdout.trim();
    },
    async init(repo) {
      await measure('borg', ['init', '--encryption', 'repokey', repo], { env });
    },
    async backup(repo, source, _parent, label) {
      // Relative path from the image's directory, so extract writes just `disk.img`.
      const measured = await measure(
        'borg',
        ['create', '--json', '--compression', 'zstd,3', `${repo}::${label}`, basename(source)],
        { env, cwd: dirname(source) },
      );
      const summary = JSON.parse(measured.stdout) as { archive: { name: string } };
      return { measured, id: summary.archive.name, summary };
    },
    async restore(repo, id, target) {
      await mkdir(target, { recursive: true });
      const measured = await measure('borg', ['extract', `${repo}::${id}`], { env, cwd: target });
      return { measured, file: join(target, 'disk.img') };
    },
  };
}

/** The csbs CLI of this package (`dist/src/main.js`), run as a child process like a backup Job runs it. */
export function csbs(options: { blockSize?: number } = {}): Tool {
  const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
  const env = {
    ...process.env,
    CSBS_REPOSITORY_KEY: passphrase,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const cli = (args: string[]) => measure(process.execPath, [main, 'mover', ...args], { env });
  const summaryOf = (m: Measured): Record<string, unknown> => {
    const line = lastLine(m.stdout);
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`csbs printed no JSON summary; last line: ${line.slice(0, 300)}`);
    }
  };
  return {
    name: 'csbs',
    settings: `csbs mover defaults${options.blockSize ? `, block size ${options.blockSize}` : ''} (zstd, AES-256-GCM, keyed BLAKE3)`,
    async version() {
      return (await run(process.execPath, [main, '--version'])).stdout.trim();
    },
    async init(repo) {
      await cli([
        'init',
        '--repo',
        repo,
        ...(options.blockSize ? ['--block-size', String(options.blockSize)] : []),
      ]);
    },
    async backup(repo, source, parent) {
      const measured = await cli([
        'backup',
        '--repo',
        repo,
        '--source',
        source,
        ...(parent ? ['--parent', parent] : []),
      ]);
      const summary = summaryOf(measured);
      const id = summary.manifest;
      if (typeof id !== 'string') throw new Error(`csbs summary has no manifest: ${JSON.stringify(summary)}`);
      return { measured, id, summary };
    },
    async restore(repo, id, target, volumeBytes, onlyChanged) {
      // Like a fresh PVC of the volume's size (or, for --only-changed, the volume as it is now).
      const file = onlyChanged ? target : join(target, 'disk.img');
      if (!onlyChanged) {
        await mkdir(target, { recursive: true });
        const handle = await open(file, 'w');
        await handle.truncate(volumeBytes);
        await handle.close();
      }
      const measured = await cli([
        'restore',
        '--repo',
        repo,
        '--manifest',
        id,
        '--target',
        file,
        ...(onlyChanged ? ['--only-changed'] : []),
      ]);
      return { measured, file };
    },
  };
}

/** Whether this checkout's `csbs` has the `mover` command yet. */
export async function csbsHasMover(): Promise<boolean> {
  const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
  try {
    await run(process.execPath, [main, 'mover', 'backup', '--help']);
    return true;
  } catch {
    return false;
  }
}

/** Whether a command is on PATH. */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/** Installs the Debian packages of missing peers (and GNU time) with apt-get; returns what is still missing. */
export async function ensurePeers(): Promise<string[]> {
  const wanted: [string, string][] = [
    ['restic', 'restic'],
    ['borg', 'borgbackup'],
    ['/usr/bin/time', 'time'],
  ];
  const missing: string[] = [];
  for (const [command, pkg] of wanted) if (!(await hasCommand(command))) missing.push(pkg);
  if (missing.length > 0) {
    process.stderr.write(`installing ${missing.join(', ')} with apt-get\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      await run('apt-get', ['update', '-qq'], { env });
      await run('apt-get', ['install', '-y', '-qq', ...missing], { env });
    } catch (error) {
      process.stderr.write(`apt-get failed: ${(error as Error).message}\n`);
    }
  }
  const still: string[] = [];
  for (const [command, pkg] of wanted) if (!(await hasCommand(command))) still.push(pkg);
  return still;
}
