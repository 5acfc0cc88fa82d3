/**
 * This machine's ceiling for a block backup: the throughput of the per-block CPU work (zero check, keyed
 * BLAKE3, zstd level 1, AES-256-GCM) on one and on all cores, and of each primitive on one core.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { LimitJob } from './limit-worker.js';

/** MB/s (10^6 bytes per second) figures. */
export interface MachineLimit {
  cores: number;
  /** One core, each primitive alone over non-zero data, 64 KiB blocks, per CPU-second. */
  perCoreMBps: Record<string, number>;
  /**
   * The whole per-block pipeline over the image's mix, by block size: wall-clock rates on 1 core and on
   * all cores, and `perCpuSecond` (bytes per CPU-second of the worker threads), whose multiple by the
   * core count is the machine's ceiling on an idle machine even when it is measured on a busy one.
   */
  pipelineMBps: {
    blockBytes: number;
    oneCore: number;
    allCores: number;
    perCpuSecond: number;
    ceiling: number;
  }[];
}

interface Rates {
  wall: number;
  cpu: number;
}

function runWorkers(job: LimitJob, count: number): Promise<Rates> {
  const url = new URL('./limit-worker.js', import.meta.url);
  const runs = Array.from(
    { length: count },
    () =>
      new Promise<{ bytes: number; seconds: number; cpuSeconds: number }>((resolve, reject) => {
        const worker = new Worker(url, { workerData: job });
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
  );
  return Promise.all(runs).then((results) => {
    const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
    const seconds = Math.max(...results.map((r) => r.seconds));
    const cpuSeconds = results.reduce((sum, r) => sum + r.cpuSeconds, 0);
    return { wall: bytes / seconds / 1e6, cpu: bytes / cpuSeconds / 1e6 };
  });
}

/** Measures the limit; takes some tens of seconds. */
export async function measureMachineLimit(): Promise<MachineLimit> {
  const cores = availableParallelism();
  const perCoreMBps: Record<string, number> = {};
  for (const work of ['sha256', 'blake3', 'zstd1', 'zstd3', 'aes-gcm'] as const) {
    perCoreMBps[work] = (await runWorkers({ work, blockBytes: 64 * 1024, sampleMiB: 64, passes: 8 }, 1)).cpu;
  }
  const pipelineMBps: MachineLimit['pipelineMBps'] = [];
  for (const blockBytes of [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]) {
    const job: LimitJob = { work: 'pipeline', blockBytes, sampleMiB: 128, passes: 2 };
    const one = await runWorkers(job, 1);
    const all = await runWorkers(job, cores);
    pipelineMBps.push({
      blockBytes,
      oneCore: one.wall,
      allCores: all.wall,
      perCpuSecond: all.cpu,
      ceiling: all.cpu * cores,
    });
  }
  return { cores, perCoreMBps, pipelineMBps };
}
