/**
 * The benchmark's deterministic disk image and write workloads. Everything derives from a seed through
 * AES-CTR keystreams and a small PRNG, so every run (and every tool in a run) sees the same bytes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** What a region of the image holds. */
export type RegionKind = 'random' | 'compressible' | 'zero';

/** Per 8 regions: 3 random (media, encrypted or already compressed files), 3 compressible, 2 never written. */
const pattern: RegionKind[] = [
  'random',
  'compressible',
  'zero',
  'random',
  'compressible',
  'random',
  'zero',
  'compressible',
];

/** The image's layout. */
export interface ImageLayout {
  sizeBytes: number;
  regionBytes: number;
  regions: RegionKind[];
}

/** Splits `sizeBytes` into regions of at most 64 MiB (at least 8 regions) following the pattern. */
export function imageLayout(sizeBytes: number): ImageLayout {
  const regionBytes = Math.min(64 * 1024 * 1024, Math.floor(sizeBytes / 8 / 4096) * 4096);
  const count = Math.ceil(sizeBytes / regionBytes);
  return {
    sizeBytes,
    regionBytes,
    regions: Array.from({ length: count }, (_, i) => pattern[i % pattern.length]),
  };
}

/** A deterministic keystream: `length` pseudo-random bytes for (seed, label). */
export function keystream(seed: string, label: string, length: number): Buffer {
  const key = createHash('sha256').update(`${seed}/${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

/**
 * Text-like data that zstd shrinks about 3x: each 4 KiB block holds a run of low-entropy letters (16
 * symbols) of pseudo-random length, then zeros, like files with slack in their last block.
 */
export function compressibleBytes(seed: string, label: string, length: number): Buffer {
  const out = keystream(seed, label, length);
  for (let block = 0; block < length; block += 4096) {
    const used = 1024 + ((out[block] | (out[block + 1] << 8)) % 3072);
    const end = Math.min(length, block + 4096);
    for (let i = block; i < end; i++) out[i] = i - block < used ? 0x61 + (out[i] & 0x0f) : 0;
  }
  return out;
}

/** Writes the image to `path` (a sparse file: zero regions are holes, as in a raw VM disk). */
export async function writeImage(path: string, layout: ImageLayout, seed: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.truncate(layout.sizeBytes);
    const chunk = 8 * 1024 * 1024;
    for (const [index, kind] of layout.regions.entries()) {
      if (kind === 'zero') continue;
      const start = index * layout.regionBytes;
      const end = Math.min(layout.sizeBytes, start + layout.regionBytes);
      for (let at = start; at < end; at += chunk) {
        const length = Math.min(chunk, end - at);
        const label = `region-${index}-${at}`;
        const data =
          kind === 'random' ? keystream(seed, label, length) : compressibleBytes(seed, label, length);
        await file.write(data, 0, length, at);
      }
    }
  } finally {
    await file.close();
  }
}

/** mulberry32: a tiny deterministic PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One in-place write of a workload. */
export interface Write {
  offset: number;
  length: number;
}

/** `count` writes of `length` bytes at offsets aligned to `align`, uniform over the image. */
export function workload(
  sizeBytes: number,
  count: number,
  length: number,
  align: number,
  seed: number,
): Write[] {
  const random = prng(seed);
  const slots = Math.floor((sizeBytes - length) / align);
  return Array.from({ length: count }, () => ({ offset: Math.floor(random() * slots) * align, length }));
}

/** Applies a workload to the image in place with pseudo-random data, then fsyncs. */
export async function applyWrites(path: string, writes: Write[], seed: string, label: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    for (const [i, w] of writes.entries()) {
      await file.write(keystream(seed, `${label}-${i}`, w.length), 0, w.length, w.offset);
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads a file once to /dev/null so it is in the page cache before a timed step. */
export async function warmCache(path: string): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 8 * 1024 * 1024 })) void chunk;
}
