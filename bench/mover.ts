/**
 * The mover benchmark (issue 4, "Performance"): csbs against restic and borg on the same deterministic
 * disk image in one run: a full backup, an incremental after 200 scattered 100 KiB writes, one after 2,000
 * random 4 KiB writes, a full restore and an `--only-changed` roll-back, with wall time, throughput, bytes
 * added to each repository and peak RSS per process. Then a csbs block-size sweep over the same steps.
 * Writes `bench/results/mover.json` and `bench/results/mover.md`.
 *
 * Options: --size-mib=N (default 2048), --tools=csbs,restic,borg, --block-sizes=16384,65536,... (the sweep;
 * --block-sizes= for none), --workdir=DIR (default the OS temp dir), --keep (keep the work dir),
 * --report-only (re-render mover.md from mover.json).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyWrites,
  imageLayout,
  sha256File,
  warmCache,
  workload,
  writeImage,
  type Write,
} from './lib/image.js';
import { type MachineLimit, measureMachineLimit } from './lib/limit.js';
import { dropCaches, treeBytes } from './lib/measure.js';
import { borg, csbs, csbsHasMover, ensurePeers, restic, type Tool } from './lib/tools.js';

const MiB = 1024 * 1024;
const seed = 'csbs-bench-v1';

/** The measured steps, in the order they run. */
const stepNames = ['full', 'incr-100k', 'incr-4k', 'restore', 'restore-changed'] as const;
type StepName = (typeof stepNames)[number];

const stepTitles: Record<StepName, string> = {
  full: 'full backup',
  'incr-100k': 'incremental after 200 scattered 100 KiB writes',
  'incr-4k': 'incremental after 2,000 random 4 KiB writes',
  restore: 'full restore (latest backup)',
  'restore-changed': 'roll back to the full backup (csbs: --only-changed; peers: full restore)',
};

/** One tool's figures for one step. */
export interface StepResult {
  tool: string;
  step: StepName;
  /** Wall seconds until the step's writes were on disk. */
  seconds: number;
  /** Of those, the sync(1) after the tool exited: what the tool left unflushed. */
  syncSeconds?: number;
  /** Volume bytes per second of wall time (the whole volume is read or written in every step). */
  mibPerSecond: number;
  /** Repository growth in bytes (backups only). */
  repoBytesAdded?: number;
  repoBytesAfter?: number;
  peakRssMiB: number;
  cpuSeconds: number;
  /** The restored image matched the expected SHA-256 (restores only). */
  verified?: boolean;
  /** The tool's own summary (csbs: its JSON summary line, with phase timings when it reports them). */
  summary?: unknown;
  /** Wall seconds of every run when the step was repeated; `seconds` is their median. */
  runs?: number[];
}

/** One block size of the csbs sweep. */
export interface SweepResult {
  blockBytes: number;
  steps: { step: StepName; seconds: number; repoBytesAdded: number; peakRssMiB: number }[];
  error?: string;
}

interface Options {
  sizeMiB: number;
  tools: string[];
  blockSizes: number[];
  workdir: string;
  keep: boolean;
  /** Runs of each full backup and restore; the median is reported (this machine is noisy). */
  repeat: number;
}

function parseOptions(args: string[]): Options {
  const value = (name: string): string | undefined =>
    args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const list = (text: string | undefined, fallback: string[]): string[] =>
    text === undefined ? fallback : text.split(',').filter((s) => s !== '');
  return {
    sizeMiB: Number(value('size-mib') ?? 2048),
    tools: list(value('tools'), ['restic', 'borg', 'csbs']),
    blockSizes: list(value('block-sizes'), ['16384', '65536', '262144', '1048576']).map(Number),
    workdir: value('workdir') ?? tmpdir(),
    keep: args.includes('--keep'),
    repeat: Math.max(1, Number(value('repeat') ?? 3)),
  };
}

const log = (message: string): void => void process.stderr.write(`[bench mover] ${message}\n`);

/** Runs the benchmark. */
export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  if (args.includes('--report-only')) {
    // Re-renders mover.md from mover.json, e.g. after a change to the report's layout.
    const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    const report = JSON.parse(await readFile(join(out, 'mover.json'), 'utf8')) as Report;
    await writeFile(join(out, 'mover.md'), markdown(report));
    return;
  }
  const notes: string[] = [
    'Every step is timed until its writes are on disk: the bench runs sync(1) before a step (untimed) and ' +
      'after it (timed), because restic and borg exit before their restored files are flushed while csbs ' +
      'fsyncs the target; the step table shows how much of each time was that final sync.',
    'Backups read the image from the page cache (the bench reads it once before every backup).',
    `Every backup and restore ran ${options.repeat} times per tool and the tables show the median run (mover.json ` +
      'lists every run): full backups into a fresh repository, incrementals from a copy of the repository as it was ' +
      "before, except borg's incrementals, which ran once (its local cache would not match a copied-back repository).",
    'Throughput is volume bytes / wall seconds for every step (no tool here has changed-block tracking, so ' +
      'incrementals read the whole volume too).',
    "Peak RSS is GNU time's maximum resident set size of each tool process (worker threads included).",
  ];
  const loadBefore = loadavg();
  if (loadBefore[0] > cpus().length) {
    notes.push(
      `The machine was busy when the bench started (1-minute load ${loadBefore[0].toFixed(1)} on ${cpus().length} cores): ` +
        'absolute figures, the machine limit included, are lower than on an idle machine; tools run step by step in turn, ' +
        'so the ratios are fairer than the absolute numbers, but still noisy.',
    );
  }
  const missing = await ensurePeers();
  const tools: Tool[] = [];
  const work = await mkdtemp(join(options.workdir, 'csbs-bench-mover-'));
  for (const name of options.tools) {
    if (name === 'restic' && !missing.includes('restic')) tools.push(restic(work));
    else if (name === 'borg' && !missing.includes('borgbackup')) tools.push(borg(work));
    else if (name === 'csbs') {
      if (await csbsHasMover()) tools.push(csbs());
      else notes.push('csbs was skipped: this checkout has no `csbs mover` command yet.');
    } else notes.push(`${name} was skipped: not installed and apt-get could not install it.`);
  }
  if (missing.includes('time'))
    throw new Error('GNU time (/usr/bin/time) is missing and could not be installed');
  log(`work dir ${work}; tools ${tools.map((t) => t.name).join(', ')}`);

  try {
    const sizeBytes = options.sizeMiB * MiB;
    const layout = imageLayout(sizeBytes);
    const image = join(work, 'disk.img');
    const base = join(work, 'base.img');
    let started = Date.now();
    await writeImage(image, layout, seed);
    log(`wrote a ${options.sizeMiB} MiB image in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const writesA = workload(sizeBytes, 200, 100 * 1024, 512, 1);
    const writesB = workload(sizeBytes, 2000, 4096, 4096, 2);
    const hashes = { full: await sha256File(image) } as Record<'full' | 'incr-100k' | 'incr-4k', string>;
    if (options.blockSizes.length > 0 && tools.some((t) => t.name === 'csbs')) await copyFile(image, base);

    log('measuring the machine limit (hash + compress + encrypt on 1 and on all cores)');
    const limit = await measureMachineLimit();

    const results: StepResult[] = [];
    const repos = new Map<string, string>();
    const ids = new Map<string, Map<StepName, string>>();
    for (const tool of tools) {
      const repo = join(work, `repo-${tool.name}`);
      repos.set(tool.name, repo);
      ids.set(tool.name, new Map());
      await tool.init(repo);
    }

    const backupStep = async (
      step: 'full' | 'incr-100k' | 'incr-4k',
      parentStep?: StepName,
    ): Promise<void> => {
      for (const tool of tools) {
        const repo = repos.get(tool.name) as string;
        await warmCache(image);
        const before = await treeBytes(repo);
        const parent = parentStep && ids.get(tool.name)?.get(parentStep);
        log(`${tool.name}: ${stepTitles[step]}`);
        // A full backup is repeated into a fresh repository; an incremental from a copy of the repository
        // as it was before (not borg's: its local cache would no longer match the repository).
        const repeats = step === 'full' || tool.name !== 'borg' ? options.repeat : 1;
        const saved = `${repo}.before`;
        if (step !== 'full' && repeats > 1) await copyTree(repo, saved);
        const all: Awaited<ReturnType<Tool['backup']>>[] = [];
        for (let r = 0; r < repeats; r++) {
          if (r > 0) {
            await rm(repo, { recursive: true, force: true });
            if (step === 'full') await tool.init(repo);
            else await copyTree(saved, repo);
            await warmCache(image);
          }
          all.push(await tool.backup(repo, image, parent, step));
        }
        await rm(saved, { recursive: true, force: true });
        const { measured, id, summary } = medianRun(all);
        const after = await treeBytes(repo);
        ids.get(tool.name)?.set(step, id);
        results.push({
          tool: tool.name,
          step,
          seconds: measured.seconds,
          syncSeconds: measured.syncSeconds,
          mibPerSecond: sizeBytes / MiB / measured.seconds,
          repoBytesAdded: after - before,
          repoBytesAfter: after,
          peakRssMiB: measured.peakRssMiB,
          cpuSeconds: measured.userSeconds + measured.systemSeconds,
          summary: tool.name === 'csbs' ? summary : undefined,
          ...(all.length > 1 ? { runs: all.map((a) => a.measured.seconds) } : {}),
        });
        log(
          `  ${measured.seconds.toFixed(2)} s, +${((after - before) / MiB).toFixed(1)} MiB, ${measured.peakRssMiB.toFixed(0)} MiB RSS`,
        );
      }
    };

    const applyStep = async (
      writes: Write[],
      label: string,
      step: 'incr-100k' | 'incr-4k',
    ): Promise<void> => {
      await applyWrites(image, writes, seed, label);
      hashes[step] = await sha256File(image);
    };

    await backupStep('full');
    await applyStep(writesA, 'writes-a', 'incr-100k');
    await backupStep('incr-100k', 'full');
    await applyStep(writesB, 'writes-b', 'incr-4k');
    await backupStep('incr-4k', 'incr-100k');

    // Restores: the latest backup in full, then a roll-back of the current volume to the first backup.
    // Each starts with an empty page cache when the bench may drop it: repositories are read from
    // disk, as in a restore days after the backup (csbs writes packs with O_DIRECT, the others do not,
    // so a warm cache would compare disk reads with memory reads).
    let cold = true;
    for (const step of ['restore', 'restore-changed'] as const) {
      for (const tool of tools) {
        const repo = repos.get(tool.name) as string;
        const onlyChanged = step === 'restore-changed' && tool.name === 'csbs';
        const source: StepName = step === 'restore' ? 'incr-4k' : 'full';
        const expected = step === 'restore' ? hashes['incr-4k'] : hashes.full;
        const id = ids.get(tool.name)?.get(source) as string;
        let target = join(work, `restore-${tool.name}`);
        if (onlyChanged) {
          target = join(work, 'rollback-csbs.img');
          await copyFile(image, target);
        }
        cold = (await dropCaches()) && cold;
        if (onlyChanged) await warmCache(target);
        log(`${tool.name}: ${stepTitles[step]}`);
        const all: Awaited<ReturnType<Tool['restore']>>[] = [];
        let verified = true;
        for (let r = 0; r < options.repeat; r++) {
          if (r > 0) {
            await rm(target, { recursive: true, force: true });
            if (onlyChanged) await copyFile(image, target);
            cold = (await dropCaches()) && cold;
            if (onlyChanged) await warmCache(target);
          }
          const run = await tool.restore(repo, id, target, sizeBytes, onlyChanged);
          verified &&= (await sha256File(run.file)) === expected;
          all.push(run);
        }
        const { measured } = medianRun(all);
        if (!verified) log(`  ${tool.name} ${step}: the restored image does NOT match the backup`);
        results.push({
          tool: tool.name,
          step,
          seconds: measured.seconds,
          syncSeconds: measured.syncSeconds,
          mibPerSecond: sizeBytes / MiB / measured.seconds,
          peakRssMiB: measured.peakRssMiB,
          cpuSeconds: measured.userSeconds + measured.systemSeconds,
          verified,
          summary: tool.name === 'csbs' ? safeSummary(measured.stdout) : undefined,
          ...(all.length > 1 ? { runs: all.map((a) => a.measured.seconds) } : {}),
        });
        log(
          `  ${measured.seconds.toFixed(2)} s, ${measured.peakRssMiB.toFixed(0)} MiB RSS, verified ${verified}`,
        );
        await rm(target, { recursive: true, force: true });
      }
    }

    // The csbs block-size sweep: the same image and workloads, a fresh repository per block size.
    const sweep: SweepResult[] = [];
    if (tools.some((t) => t.name === 'csbs')) {
      for (const tool of tools) await rm(repos.get(tool.name) as string, { recursive: true, force: true });
      for (const blockBytes of options.blockSizes) {
        const tool = csbs({ blockSize: blockBytes });
        const repo = join(work, `sweep-${blockBytes}`);
        const entry: SweepResult = { blockBytes, steps: [] };
        sweep.push(entry);
        try {
          await copyFile(base, image);
          await tool.init(repo);
          let parent: string | undefined;
          for (const [step, writes, label] of [
            ['full', undefined, ''],
            ['incr-100k', writesA, 'writes-a'],
            ['incr-4k', writesB, 'writes-b'],
          ] as const) {
            if (writes) await applyWrites(image, writes, seed, label);
            await warmCache(image);
            const before = await treeBytes(repo);
            log(`csbs block ${blockBytes}: ${stepTitles[step]}`);
            const { measured, id } = await tool.backup(repo, image, parent, step);
            parent = id;
            entry.steps.push({
              step,
              seconds: measured.seconds,
              repoBytesAdded: (await treeBytes(repo)) - before,
              peakRssMiB: measured.peakRssMiB,
            });
          }
        } catch (error) {
          entry.error = (error as Error).message.slice(0, 500);
          log(`  failed: ${entry.error}`);
        }
        await rm(repo, { recursive: true, force: true });
      }
    }

    notes.push(
      cold
        ? 'Restores started with an empty page cache (the bench dropped it): every tool read its repository from disk.'
        : 'The bench could not drop the page cache (not root): restores read repositories partly from memory, ' +
            'which favours restic and borg (csbs writes its packs with O_DIRECT, so they are not cached).',
    );
    const versions: Record<string, string> = {};
    const settings: Record<string, string> = {};
    for (const tool of tools) {
      versions[tool.name] = await tool.version();
      settings[tool.name] = tool.settings;
    }
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 1024 ** 3),
        freeMemoryGiB: Math.round(freemem() / 1024 ** 3),
        kernel: release(),
        node: process.version,
        // Other work on the machine skews every figure; the 1-minute load average says how much there was.
        loadAverageBefore: loadBefore[0],
        loadAverageAfter: loadavg()[0],
      },
      image: {
        sizeBytes,
        regionBytes: layout.regionBytes,
        regions: {
          random: layout.regions.filter((r) => r === 'random').length,
          compressible: layout.regions.filter((r) => r === 'compressible').length,
          zero: layout.regions.filter((r) => r === 'zero').length,
        },
        seed,
        workloads: {
          'incr-100k': '200 writes of 100 KiB at 512-byte-aligned random offsets',
          'incr-4k': '2,000 writes of 4 KiB at 4 KiB-aligned random offsets',
        },
      },
      versions,
      settings,
      machineLimit: limit,
      results,
      comparison: compare(results),
      sweep,
      notes,
    };
    const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'mover.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(out, 'mover.md'), markdown(report));
    log(`wrote ${join(out, 'mover.json')} and mover.md`);
    started = Date.now();
  } finally {
    if (!options.keep) await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

function safeSummary(stdout: string): unknown {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  try {
    return JSON.parse(lines[lines.length - 1] ?? 'null');
  } catch {
    return undefined;
  }
}

/** One target of the issue, checked. */
interface TargetCheck {
  what: string;
  target: string;
  csbs?: number;
  restic?: number;
  ratio?: number;
  /** restic's CPU seconds / csbs's: what the wall ratio would approach if neither waited for a core. */
  cpuRatio?: number;
  met?: boolean;
}

/** Copies a directory tree (`cp -a`), e.g. a repository to repeat a step from the same state. */
function copyTree(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('cp', ['-a', from, to], (err) => (err ? reject(err) : resolve())),
  );
}

/**
 * The run with the median wall time (its CPU, RSS and summary go with it), except that the id is the
 * last run's: that is the backup the repository keeps for the steps after.
 */
function medianRun<T extends { measured: { seconds: number }; id?: string }>(runs: T[]): T {
  const sorted = [...runs].sort((a, b) => a.measured.seconds - b.measured.seconds);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const last = runs[runs.length - 1]!;
  return last.id === undefined ? median : { ...median, id: last.id };
}

function pick(results: StepResult[], tool: string, step: StepName): StepResult | undefined {
  return results.find((r) => r.tool === tool && r.step === step);
}

/** The issue's targets, as ratios of csbs to restic. */
function compare(results: StepResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const speed = (step: StepName, target: number, what: string): void => {
    const c = pick(results, 'csbs', step);
    const r = pick(results, 'restic', step);
    const ratio = c && r ? r.seconds / c.seconds : undefined;
    const cpuRatio = c && r ? r.cpuSeconds / c.cpuSeconds : undefined;
    checks.push({
      cpuRatio,
      what,
      target: `>= ${target}x restic`,
      csbs: c?.seconds,
      restic: r?.seconds,
      ratio,
      met: ratio === undefined ? undefined : ratio >= target,
    });
  };
  const bytes = (step: StepName, what: string): void => {
    const c = pick(results, 'csbs', step);
    const r = pick(results, 'restic', step);
    const ratio = c && r && r.repoBytesAdded ? (c.repoBytesAdded ?? 0) / r.repoBytesAdded : undefined;
    checks.push({
      what,
      target: '<= 0.25x restic',
      csbs: c?.repoBytesAdded,
      restic: r?.repoBytesAdded,
      ratio,
      met: ratio === undefined ? undefined : ratio <= 0.25,
    });
  };
  speed('full', 3, 'full backup throughput');
  speed('incr-100k', 5, 'incremental (200 x 100 KiB) throughput');
  bytes('incr-100k', 'incremental (200 x 100 KiB) bytes added');
  speed('incr-4k', 5, 'incremental (2,000 x 4 KiB) throughput');
  bytes('incr-4k', 'incremental (2,000 x 4 KiB) bytes added');
  speed('restore', 2, 'full restore throughput');
  speed('restore-changed', 2, 'roll-back (csbs --only-changed vs restic full restore)');
  const cFull = pick(results, 'csbs', 'full');
  const rFull = pick(results, 'restic', 'full');
  if (cFull && rFull) {
    const ratio = (cFull.repoBytesAfter ?? 0) / (rFull.repoBytesAfter ?? 1);
    checks.push({
      what: 'repository size after the full',
      target: '<= 1x restic',
      csbs: cFull.repoBytesAfter,
      restic: rFull.repoBytesAfter,
      ratio,
      met: ratio <= 1,
    });
  }
  const csbsRss = results.filter((r) => r.tool === 'csbs').map((r) => r.peakRssMiB);
  if (csbsRss.length > 0) {
    const peak = Math.max(...csbsRss);
    checks.push({ what: 'csbs peak RSS (MiB, any step)', target: '< 256 MiB', csbs: peak, met: peak < 256 });
  }
  return checks;
}

const fmt = (n: number | undefined, digits = 1): string => (n === undefined ? '-' : n.toFixed(digits));
const mib = (n: number | undefined): string => (n === undefined ? '-' : (n / MiB).toFixed(1));

interface Report {
  date: string;
  machine: Record<string, unknown>;
  image: { sizeBytes: number };
  versions: Record<string, string>;
  settings: Record<string, string>;
  machineLimit: MachineLimit;
  results: StepResult[];
  comparison: TargetCheck[];
  sweep: SweepResult[];
  notes: string[];
}

/** The human-readable report. */
function markdown(report: Report): string {
  const tools = [...new Set(report.results.map((r) => r.tool))];
  const lines: string[] = [];
  lines.push(`# Mover benchmark: csbs vs restic and borg`, '');
  lines.push(
    `${report.date}; ${String(report.machine.cpus)} cores (${String(report.machine.cpuModel)}), ${String(report.machine.memoryGiB)} GiB RAM, Node ${String(report.machine.node)}; image ${mib(report.image.sizeBytes)} MiB; 1-minute load average ${fmt(report.machine.loadAverageBefore as number, 2)} before, ${fmt(report.machine.loadAverageAfter as number, 2)} after. Produced by \`npm run bench mover\`.`,
    '',
  );
  lines.push('## Targets (issue 4): csbs / restic', '');
  lines.push(
    '| what | target | csbs | restic | ratio | met | CPU-seconds ratio |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const c of report.comparison) {
    const isBytes = c.what.includes('bytes') || c.what.includes('size');
    const isRss = c.what.includes('RSS');
    const show = (n: number | undefined): string =>
      isBytes ? `${mib(n)} MiB` : isRss ? `${fmt(n, 0)} MiB` : `${fmt(n, 2)} s`;
    lines.push(
      `| ${c.what} | ${c.target} | ${show(c.csbs)} | ${c.restic === undefined ? '-' : show(c.restic)} | ${c.ratio === undefined ? '-' : `${fmt(c.ratio, 2)}x`} | ${c.met === undefined ? '-' : c.met ? 'yes' : 'NO'} | ${c.cpuRatio === undefined ? '' : `${fmt(c.cpuRatio, 2)}x`} |`,
    );
  }
  lines.push('', '## Every step', '');
  lines.push(
    `| step | ${tools.map((t) => `${t} s (MiB/s)`).join(' | ')} | ${tools.map((t) => `${t} CPU s`).join(' | ')} | ${tools.map((t) => `${t} +MiB`).join(' | ')} | ${tools.map((t) => `${t} RSS MiB`).join(' | ')} |`,
  );
  lines.push(`| --- |${' --- |'.repeat(tools.length * 4)}`);
  for (const step of stepNames) {
    const row = tools.map((t) => pick(report.results, t, step));
    if (row.every((r) => r === undefined)) continue;
    lines.push(
      `| ${stepTitles[step]} | ${row.map((r) => (r ? `${fmt(r.seconds, 2)} (${fmt(r.mibPerSecond, 0)})${r.verified === false ? ' WRONG DATA' : ''}` : '-')).join(' | ')} | ${row.map((r) => fmt(r?.cpuSeconds, 1)).join(' | ')} | ${row.map((r) => (r?.repoBytesAdded === undefined ? '-' : mib(r.repoBytesAdded))).join(' | ')} | ${row.map((r) => fmt(r?.peakRssMiB, 0)).join(' | ')} |`,
    );
  }
  lines.push(
    '',
    `Seconds of each time spent in the sync(1) after the tool exited: ${stepNames
      .flatMap((step) => tools.map((t) => pick(report.results, t, step)))
      .filter((r): r is StepResult => r?.syncSeconds !== undefined)
      .map((r) => `${r.tool} ${r.step} ${fmt(r.syncSeconds, 2)}`)
      .join(', ')}.`,
  );
  const restores = report.results.filter((r) => r.verified !== undefined);
  lines.push(
    '',
    `Every restore was checked against the image's SHA-256: ${restores.every((r) => r.verified) ? 'all matched' : 'SOME DID NOT MATCH'}.`,
  );

  const limit = report.machineLimit;
  lines.push('', "## This machine's limit", '');
  lines.push(
    `One core, 64 KiB blocks of non-zero data (MB per CPU-second): ${Object.entries(limit.perCoreMBps)
      .map(([k, v]) => `${k} ${fmt(v, 0)}`)
      .join(', ')}.`,
    '',
    `The per-block backup work (zero check, keyed BLAKE3, zstd level 1, AES-256-GCM) over the image's mix: MB/s of wall time on 1 and on all cores as measured in this run, and the ceiling, MB per CPU-second x ${limit.cores} cores (what an idle machine allows):`,
    '',
    '| block size | 1 core (wall) | all cores (wall) | MB per CPU-second | ceiling MB/s |',
    '| --- | --- | --- | --- | --- |',
    ...limit.pipelineMBps.map(
      (p) =>
        `| ${p.blockBytes / 1024} KiB | ${fmt(p.oneCore, 0)} | ${fmt(p.allCores, 0)} | ${fmt(p.perCpuSecond, 0)} | ${fmt(p.ceiling, 0)} |`,
    ),
  );
  const full = pick(report.results, 'csbs', 'full');
  if (full) {
    const at = limit.pipelineMBps.find((p) => p.blockBytes === 64 * 1024) ?? limit.pipelineMBps[0];
    const mbps = report.image.sizeBytes / 1e6 / full.seconds;
    const perCpu = report.image.sizeBytes / 1e6 / full.cpuSeconds;
    lines.push(
      '',
      `csbs's full backup ran at ${fmt(mbps, 0)} MB/s of wall time, ${fmt((100 * mbps) / at.allCores, 0)}% of the all-core pipeline rate measured in the same conditions (${fmt(at.allCores, 0)} MB/s, 64 KiB blocks). ` +
        `It used ${fmt(full.cpuSeconds, 1)} CPU-seconds, ${fmt(perCpu, 0)} MB per CPU-second against the pipeline's ${fmt(at.perCpuSecond, 0)}: ` +
        `with both cores to itself it could reach about ${fmt(perCpu * limit.cores, 0)} MB/s, ${fmt((100 * perCpu) / at.perCpuSecond, 0)}% of the ${fmt(at.ceiling, 0)} MB/s ceiling.`,
    );
    const phases = (full.summary as { phases?: Record<string, number> } | undefined)?.phases;
    if (phases && typeof phases === 'object') {
      lines.push(
        '',
        "## Where csbs's full backup spends its time (from its summary)",
        '',
        '| phase | seconds |',
        '| --- | --- |',
      );
      for (const [phase, seconds] of Object.entries(phases))
        lines.push(
          `| ${phase} | ${typeof seconds === 'number' ? fmt(seconds, 2) : JSON.stringify(seconds)} |`,
        );
    }
  }
  if (report.sweep.length > 0) {
    lines.push('', '## csbs block-size sweep (fresh repository per size)', '');
    lines.push(
      '| block size | full s | full +MiB | 200x100KiB s | +MiB | 2000x4KiB s | +MiB | peak RSS MiB |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const s of report.sweep) {
      if (s.error) {
        lines.push(
          `| ${s.blockBytes / 1024} KiB | failed: ${s.error.replace(/\|/g, '/').slice(0, 120)} |||||||`,
        );
        continue;
      }
      const at = (step: StepName) => s.steps.find((x) => x.step === step);
      lines.push(
        `| ${s.blockBytes / 1024} KiB | ${fmt(at('full')?.seconds, 2)} | ${mib(at('full')?.repoBytesAdded)} | ${fmt(at('incr-100k')?.seconds, 2)} | ${mib(at('incr-100k')?.repoBytesAdded)} | ${fmt(at('incr-4k')?.seconds, 2)} | ${mib(at('incr-4k')?.repoBytesAdded)} | ${fmt(Math.max(...s.steps.map((x) => x.peakRssMiB)), 0)} |`,
      );
    }
  }
  lines.push('', '## Settings', '');
  for (const tool of Object.keys(report.settings))
    lines.push(`- ${tool} (${report.versions[tool]}): ${report.settings[tool]}`);
  lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}
