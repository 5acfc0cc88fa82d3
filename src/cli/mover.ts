/**
 * `csbs mover ...`: the data mover's command line (the contract in docs/design.md). stdout gets
 * JSON-lines progress and the summary (or error) as the last line; stderr gets a progress bar when
 * it is a terminal, and human-readable errors.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, CommanderError, Option } from 'commander';
import { backup, type Extent, MAX_IDEMPOTENCY_KEY } from '../mover/backup.js';
import { type Backend } from '../mover/backend/backend.js';
import { openBackend } from '../mover/backend/open.js';
import { ExitCode, MoverError, toMoverError, usageError } from '../mover/errors.js';
import { COMPRESSION_NAMES, type CompressionName } from '../mover/repository/codec.js';
import { Repository } from '../mover/repository/repository.js';
import { gc } from '../mover/gc.js';
import { deleteManifests, listManifests, repoStats, storedBytes } from '../mover/inventory.js';
import { prestartWorkers } from '../mover/pipeline/pool.js';
import { restore } from '../mover/restore.js';
import { verify } from '../mover/verify.js';

interface CommonOptions {
  repo: string;
  keyFile?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  summaryFile?: string;
  progressInterval: string;
  workers?: string;
  retryAttempts?: string;
}

/** What a command's action returns: the summary line and an optional non-zero exit code. */
interface Outcome {
  summary: object;
  exitCode?: number;
  error?: MoverError;
}

/** Parses sizes such as 65536, 64Ki, 64KiB, 16Mi. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*(|k|ki|kib|m|mi|mib|g|gi|gib)$/i.exec(text.trim());
  if (!m) throw usageError(`${flag} ${JSON.stringify(text)}: expected a byte count such as 65536 or 64Ki`);
  const unit = m[2]!.toLowerCase();
  const mult = unit.startsWith('k')
    ? 1024
    : unit.startsWith('m')
      ? 1 << 20
      : unit.startsWith('g')
        ? 1 << 30
        : 1;
  return Number(m[1]) * mult;
}

function readSecret(opts: CommonOptions): Buffer {
  let secret: Buffer;
  if (opts.keyFile) {
    try {
      secret = readFileSync(opts.keyFile);
    } catch (err) {
      throw usageError(`--key-file ${opts.keyFile}: ${(err as Error).message}`);
    }
    // Secrets mounted from files often end with a newline that is not part of the key.
    let end = secret.length;
    while (end > 0 && (secret[end - 1] === 0x0a || secret[end - 1] === 0x0d)) end--;
    secret = secret.subarray(0, end);
  } else if (process.env.CSBS_REPOSITORY_KEY !== undefined) {
    secret = Buffer.from(process.env.CSBS_REPOSITORY_KEY);
  } else {
    throw usageError('no repository key: set CSBS_REPOSITORY_KEY or pass --key-file FILE');
  }
  if (secret.length === 0) throw usageError('the repository key is empty');
  return secret;
}

async function openRepo(opts: CommonOptions): Promise<Repository> {
  const secret = readSecret(opts);
  return Repository.open(await backendFor(opts), secret);
}

function backendFor(opts: CommonOptions): Promise<Backend> {
  let retry;
  if (opts.retryAttempts !== undefined) {
    const attempts = Number(opts.retryAttempts);
    if (!Number.isInteger(attempts) || attempts < 1)
      throw usageError(`--retry-attempts ${opts.retryAttempts}: expected a count >= 1`);
    retry = { attempts, baseDelayMs: 200, maxDelayMs: 10_000 };
  }
  return openBackend(opts.repo, {
    ...(opts.s3Endpoint ? { s3Endpoint: opts.s3Endpoint } : {}),
    ...(opts.s3Region ? { s3Region: opts.s3Region } : {}),
    ...(opts.s3ForcePathStyle ? { s3ForcePathStyle: true } : {}),
    ...(retry ? { retry } : {}),
    onRetry: (e) =>
      process.stderr.write(
        `csbs mover: retrying ${e.op} ${e.key} (attempt ${e.attempt}) in ${e.delayMs} ms\n`,
      ),
  });
}

/** Parses durations such as 24h, 30m, 1h30m, 90s, 500ms, 2d, or a number of seconds; returns ms. */
export function parseDuration(text: string, flag: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t)
    throw usageError(`${flag} ${JSON.stringify(text)}: expected a duration such as 24h, 30m, 90s or seconds`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0);
}

/**
 * Reads a `--live-manifests` file (`-` = stdin): manifest ids one per line, or a JSON array of them.
 * A file with no id at all is refused (a truncated file must not make every manifest an orphan):
 * `[]` says that none is live.
 */
function readLiveManifests(file: string): Set<string> {
  const flag = `--live-manifests ${file}`;
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw usageError(`${flag}: ${(err as Error).message}`);
  }
  let ids: unknown[];
  if (text.trim().startsWith('[')) {
    try {
      ids = JSON.parse(text) as unknown[];
    } catch (err) {
      throw usageError(`${flag}: ${(err as Error).message}`);
    }
    if (!Array.isArray(ids)) throw usageError(`${flag}: expected a JSON array of manifest ids`);
  } else {
    ids = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (ids.length === 0) throw usageError(`${flag} lists no manifest: pass [] to say that none is live`);
  }
  for (const id of ids)
    if (typeof id !== 'string' || !/^[0-9a-zA-Z_-]{1,64}$/.test(id))
      throw usageError(`${flag}: ${JSON.stringify(id)} is not a manifest id`);
  return new Set(ids as string[]);
}

/**
 * Reads a `--changed-extents` file: the byte ranges a changed-block tracker (a CSI SnapshotMetadata
 * service) reports as changed since the parent backup. Every problem is a usage error naming the entry.
 */
function readExtents(file: string, parent: string | undefined): Extent[] {
  const flag = `--changed-extents ${file}`;
  if (!parent)
    throw usageError(`${flag} needs --parent: blocks outside the extents are taken from the parent`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw usageError(`${flag}: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw usageError(`${flag}: expected a JSON array of {"offset": n, "length": n}`);
  return data.map((e: unknown, i) => {
    const { offset, length } = (e ?? {}) as { offset?: unknown; length?: unknown };
    for (const [name, v] of [
      ['offset', offset],
      ['length', length],
    ] as const) {
      if (!Number.isSafeInteger(v) || (v as number) < 0)
        throw usageError(
          `${flag}: entry ${i} field ${name} must be a non-negative integer, got ${JSON.stringify(v)}`,
        );
    }
    return { offset: offset as number, length: length as number };
  });
}

/**
 * For the commands that move data (backup, restore, verify): the progress printer and the worker
 * count from the flags, and the repository, opened while the worker threads start (their module
 * loading overlaps the key derivation) when the command will use them.
 */
async function openForData(
  opts: CommonOptions,
  usesWorkers = true,
): Promise<{
  repo: Repository;
  workers: number | undefined;
  onProgress: ReturnType<typeof progressPrinter>;
}> {
  const onProgress = progressPrinter(opts);
  const workers = workerCount(opts);
  if (usesWorkers) prestartWorkers(workers);
  return { repo: await openRepo(opts), workers, onProgress };
}

function workerCount(opts: CommonOptions): number | undefined {
  if (opts.workers === undefined) return undefined;
  const n = Number(opts.workers);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw usageError(`--workers ${opts.workers}: expected 1..64`);
  return n;
}

/** Emits progress lines at most every `interval` seconds, and draws a bar on a terminal. */
function progressPrinter(
  opts: CommonOptions,
): (p: { phase: string; bytesDone: number; bytesTotal: number }) => void {
  const interval = Number(opts.progressInterval) * 1000;
  if (!Number.isFinite(interval) || interval < 0)
    throw usageError(`--progress-interval ${opts.progressInterval}: expected seconds >= 0`);
  let last = 0;
  const tty = process.stderr.isTTY === true;
  return (p) => {
    const now = Date.now();
    if (now - last < interval && p.bytesDone < p.bytesTotal) return;
    last = now;
    process.stdout.write(`${JSON.stringify(p)}\n`);
    if (tty) {
      const frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : 1;
      const width = 30;
      const full = Math.round(frac * width);
      process.stderr.write(
        `\r${p.phase} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(1)}%`,
      );
      if (frac >= 1) process.stderr.write('\n');
    }
  };
}

/** Runs a command action: prints the summary or error as the last line and sets the exit code. */
async function run(opts: CommonOptions, action: () => Promise<Outcome>): Promise<void> {
  let line: object;
  let exitCode: number;
  try {
    const outcome = await action();
    line = outcome.summary;
    exitCode = outcome.exitCode ?? ExitCode.Ok;
    if (outcome.error) process.stderr.write(`csbs mover: ${outcome.error.message}\n`);
  } catch (err) {
    const e = toMoverError(err);
    exitCode = e.exitCode;
    // The summary file feeds a 4 KiB termination message: keep the error short.
    line = { error: { code: e.code, message: e.message.slice(0, 1500) }, exitCode };
    process.stderr.write(`csbs mover: ${e.message}\n`);
    if (e.code === 'Unexpected' && e.cause instanceof Error && e.cause.stack)
      process.stderr.write(`${e.cause.stack}\n`);
  }
  const text = JSON.stringify(line);
  process.stdout.write(`${text}\n`);
  if (opts.summaryFile) {
    try {
      writeFileSync(opts.summaryFile, `${text}\n`);
    } catch (err) {
      process.stderr.write(
        `csbs mover: cannot write --summary-file ${opts.summaryFile}: ${(err as Error).message}\n`,
      );
      if (exitCode === ExitCode.Ok) exitCode = ExitCode.Unexpected;
    }
  }
  process.exitCode = exitCode;
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption('--repo <repo>', 'repository: a directory path or s3://bucket/prefix')
    .option('--key-file <file>', 'file holding the repository key (default: env CSBS_REPOSITORY_KEY)')
    .option('--s3-endpoint <url>', 'S3 endpoint URL (for S3-compatible storage)')
    .option('--s3-region <region>', 'S3 region')
    .option('--s3-force-path-style', 'use path-style S3 URLs')
    .option('--summary-file <file>', 'also write the final JSON line (summary or error) to this file')
    .addOption(new Option('--progress-interval <seconds>', 'seconds between progress lines').default('1'))
    .addOption(new Option('--workers <n>', 'worker threads (default: one per core, at least 2)').hideHelp())
    .addOption(
      new Option('--retry-attempts <n>', 'storage attempts per operation before giving up').hideHelp(),
    );
}

/** Registers `csbs mover` and its subcommands. */
export function registerMover(program: Command): void {
  const mover = program
    .command('mover')
    .description('back up and restore volumes to an encrypted, deduplicated repository')
    // Usage errors exit 2, as the mover's exit-code contract says.
    .exitOverride((err: CommanderError) => {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.help' ||
        err.code === 'commander.version'
      )
        process.exit(0);
      process.exit(ExitCode.Usage);
    });

  common(mover.command('init').description('create a repository'))
    .option('--block-size <bytes>', 'block size, a power of two (default 64Ki)')
    .addOption(
      new Option('--compression <name>', 'block compression').choices([...COMPRESSION_NAMES]).default('zstd'),
    )
    .addOption(new Option('--compression-level <n>', 'zstd level').hideHelp())
    .addOption(new Option('--pack-size <bytes>', 'target pack object size (default 16Mi)').hideHelp())
    .option('--if-missing', 'succeed if the repository already exists and the key opens it')
    .action(
      async (
        opts: CommonOptions & {
          blockSize?: string;
          compression: CompressionName;
          compressionLevel?: string;
          packSize?: string;
          ifMissing?: boolean;
        },
      ) => {
        await run(opts, async () => {
          const secret = readSecret(opts);
          const backend = await backendFor(opts);
          const { repo, created } = await Repository.init(backend, secret, {
            ...(opts.blockSize ? { blockSize: parseSize(opts.blockSize, '--block-size') } : {}),
            ...(opts.packSize ? { packSize: parseSize(opts.packSize, '--pack-size') } : {}),
            compression: opts.compression,
            ...(opts.compressionLevel ? { compressionLevel: Number(opts.compressionLevel) } : {}),
            ifMissing: opts.ifMissing === true,
          });
          const c = repo.config;
          return {
            summary: {
              repository: c.id,
              created,
              location: backend.location,
              blockSize: c.blockSize,
              packSize: c.packSize,
              compression: c.compression,
              // The repository check Job runs `init --if-missing`: its summary feeds status.storedBytes.
              storedBytes: await storedBytes(repo),
            },
          };
        });
      },
    );

  common(mover.command('backup').description('back up a block device or disk image'))
    .requiredOption('--source <path>', 'block device or disk image file to back up')
    .option('--parent <id>', 'manifest of the previous backup of this volume (an incremental)')
    .option(
      '--changed-extents <file>',
      'JSON list of {"offset","length"} byte ranges changed since --parent (changed-block tracking): only these are read',
    )
    .option(
      '--tag <key=value>',
      'tag the manifest (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--idempotency-key <key>',
      `name this backup for retries (1-${MAX_IDEMPOTENCY_KEY} characters): if a manifest with this key exists, report it (reused: true) without reading the source`,
    )
    .action(
      async (
        opts: CommonOptions & {
          source: string;
          parent?: string;
          changedExtents?: string;
          tag: string[];
          idempotencyKey?: string;
        },
      ) => {
        await run(opts, async () => {
          const tags: Record<string, string> = {};
          for (const t of opts.tag) {
            const eq = t.indexOf('=');
            if (eq <= 0) throw usageError(`--tag ${JSON.stringify(t)}: expected key=value`);
            tags[t.slice(0, eq)] = t.slice(eq + 1);
          }
          const changedExtents = opts.changedExtents
            ? readExtents(opts.changedExtents, opts.parent)
            : undefined;
          const { repo, workers, onProgress } = await openForData(opts);
          const summary = await backup(repo, {
            source: opts.source,
            ...(opts.parent ? { parent: opts.parent } : {}),
            ...(changedExtents ? { changedExtents } : {}),
            tags,
            ...(opts.idempotencyKey !== undefined ? { idempotencyKey: opts.idempotencyKey } : {}),
            ...(workers ? { workers } : {}),
            onProgress,
          });
          return { summary };
        });
      },
    );

  common(mover.command('restore').description('restore a manifest to a block device or disk image'))
    .requiredOption('--manifest <id>', 'the manifest to restore')
    .requiredOption('--target <path>', 'block device or disk image file to write')
    .option('--only-changed', 'read the target and rewrite only the blocks that differ')
    .action(async (opts: CommonOptions & { manifest: string; target: string; onlyChanged?: boolean }) => {
      await run(opts, async () => {
        const { repo, workers, onProgress } = await openForData(opts);
        const summary = await restore(repo, {
          manifest: opts.manifest,
          target: opts.target,
          onlyChanged: opts.onlyChanged === true,
          ...(workers ? { workers } : {}),
          onProgress,
        });
        return { summary };
      });
    });

  common(mover.command('verify').description('check that every manifest can be restored'))
    .option(
      '--read-data [fraction]',
      'also read, decrypt and re-hash blocks: all, or a random fraction of packs (0..1)',
    )
    .action(async (opts: CommonOptions & { readData?: string | boolean }) => {
      await run(opts, async () => {
        let readData: number | undefined;
        if (opts.readData === true) readData = 1;
        else if (typeof opts.readData === 'string') {
          readData = Number(opts.readData);
          if (!(readData > 0 && readData <= 1))
            throw usageError(`--read-data=${opts.readData}: expected a fraction in (0, 1]`);
        }
        const { repo, workers, onProgress } = await openForData(opts, readData !== undefined);
        const result = await verify(repo, {
          ...(readData !== undefined ? { readData } : {}),
          ...(workers ? { workers } : {}),
          onProgress,
        });
        if (result.ok) return { summary: result };
        // Keep the line short for termination messages: the first bad blocks and their first uses.
        const bad = result.bad.slice(0, 4).map((b) => ({ ...b, uses: b.uses.slice(0, 3) }));
        const error = new MoverError(
          'Corrupt',
          `verify found ${result.bad.length} bad block(s): ${bad
            .slice(0, 3)
            .map(
              (b) =>
                `${b.block || 'manifest'} (${b.reason}) used by ${b.uses.map((u) => `${u.manifest}@${u.offset}`).join(', ')}`,
            )
            .join('; ')}`,
        );
        return {
          summary: {
            ...result,
            bad,
            error: { code: error.code, message: error.message.slice(0, 800) },
            exitCode: error.exitCode,
          },
          exitCode: error.exitCode,
          error,
        };
      });
    });

  common(mover.command('list').description('list the manifests (backups) in the repository'))
    .option('--json', 'print one JSON line with all manifests instead of a table')
    .action(async (opts: CommonOptions & { json?: boolean }) => {
      if (!opts.json) {
        try {
          const manifests = await listManifests(await openRepo(opts));
          process.stdout.write(
            `${'ID'.padEnd(18)}${'TIME'.padEnd(26)}${'TYPE'.padEnd(13)}${'SIZE'.padStart(14)}  TAGS\n`,
          );
          for (const m of manifests) {
            const tags = Object.entries(m.tags)
              .map(([k, v]) => `${k}=${v}`)
              .join(',');
            process.stdout.write(
              `${m.id.padEnd(18)}${m.time.padEnd(26)}${m.type.padEnd(13)}${String(m.sizeBytes).padStart(14)}  ${tags}\n`,
            );
          }
          return;
        } catch {
          // fall through to the JSON error line and exit code
        }
      }
      await run(opts, async () => ({ summary: { manifests: await listManifests(await openRepo(opts)) } }));
    });

  common(mover.command('stats').description('space used: logical, stored, dedup and compression ratios'))
    .option('--json', 'print JSON (the default output is JSON too; kept for symmetry with list)')
    .action(async (opts: CommonOptions) => {
      await run(opts, async () => ({ summary: await repoStats(await openRepo(opts)) }));
    });

  common(mover.command('delete').description('delete manifests (their data is reclaimed by gc)'))
    .requiredOption(
      '--manifest <id>',
      'manifest to delete (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (opts: CommonOptions & { manifest: string[] }) => {
      await run(opts, async () => ({ summary: await deleteManifests(await openRepo(opts), opts.manifest) }));
    });

  common(mover.command('gc').description('reclaim space no manifest uses (safe beside running backups)'))
    .addOption(
      new Option(
        '--repack-below <fraction>',
        'repack packs whose live share is below this (0 = never)',
      ).default('0.5'),
    )
    .option(
      '--live-manifests <file>',
      'manifest ids still referenced, one per line or a JSON array (- = stdin): older others are deleted first',
    )
    .addOption(
      new Option(
        '--orphan-grace <duration>',
        'with --live-manifests, keep unlisted manifests younger than this (24h, 30m, seconds)',
      ).default('24h'),
    )
    .action(
      async (opts: CommonOptions & { repackBelow: string; liveManifests?: string; orphanGrace: string }) => {
        await run(opts, async () => {
          const repackBelow = Number(opts.repackBelow);
          if (!(repackBelow >= 0 && repackBelow <= 1))
            throw usageError(`--repack-below ${opts.repackBelow}: expected 0..1`);
          const graceMs = parseDuration(opts.orphanGrace, '--orphan-grace');
          const live = opts.liveManifests !== undefined ? readLiveManifests(opts.liveManifests) : undefined;
          const repo = await openRepo(opts);
          const result = await gc(repo, { repackBelow, ...(live ? { orphans: { live, graceMs } } : {}) });
          return { summary: { ...result, storedBytes: await storedBytes(repo) } };
        });
      },
    );
}
