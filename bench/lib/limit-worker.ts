/**
 * A worker thread of the machine-limit measurement: runs the per-block work of a backup (zero check,
 * keyed BLAKE3, zstd, AES-256-GCM) over a sample with the bench image's mix, or one primitive alone,
 * and reports bytes and seconds.
 */
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { compress } from 'zstd-napi';
import { compressibleBytes, keystream } from './image.js';

/** What the parent asks for. */
export interface LimitJob {
  work: 'pipeline' | 'sha256' | 'blake3' | 'zstd1' | 'zstd3' | 'aes-gcm';
  blockBytes: number;
  sampleMiB: number;
  passes: number;
}

const job = workerData as LimitJob;
const third = Math.floor((job.sampleMiB * 1024 * 1024 * 3) / 8 / job.blockBytes) * job.blockBytes;
// The image's mix: 3/8 random, 3/8 compressible, 2/8 zero.
const sample = Buffer.concat([
  keystream('limit', 'random', third),
  compressibleBytes('limit', 'text', third),
  Buffer.alloc((job.sampleMiB * 1024 * 1024) / 4),
]);
const nonZero = sample.subarray(0, 2 * third);
const zero = Buffer.alloc(job.blockBytes);
const hashKey = randomBytes(32);
const aesKey = randomBytes(32);
let nonce = 0n;

function encrypt(data: Buffer): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(++nonce, 4);
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
  return Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
}

const work: Record<LimitJob['work'], (block: Buffer) => void> = {
  pipeline: (block) => {
    if (block.equals(zero)) return;
    Blake3Hasher.newKeyed(hashKey).update(block).digestBuffer();
    encrypt(compress(block, { compressionLevel: 1 }));
  },
  sha256: (block) => void createHash('sha256').update(block).digest(),
  blake3: (block) => void Blake3Hasher.newKeyed(hashKey).update(block).digestBuffer(),
  zstd1: (block) => void compress(block, { compressionLevel: 1 }),
  zstd3: (block) => void compress(block, { compressionLevel: 3 }),
  'aes-gcm': (block) => void encrypt(block),
};

/** CPU seconds this thread has used (Linux /proc; ticks of 1/100 s), so a busy machine does not skew rates. */
function threadCpuSeconds(): number {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

// The pipeline runs over the whole mixed sample; single primitives over its non-zero part.
const input = job.work === 'pipeline' ? sample : nonZero;
const cpuStarted = threadCpuSeconds();
const started = process.hrtime.bigint();
for (let pass = 0; pass < job.passes; pass++) {
  for (let at = 0; at + job.blockBytes <= input.length; at += job.blockBytes) {
    work[job.work](input.subarray(at, at + job.blockBytes));
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
parentPort?.postMessage({
  bytes: input.length * job.passes,
  seconds,
  cpuSeconds: threadCpuSeconds() - cpuStarted,
});
