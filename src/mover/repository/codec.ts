/**
 * Compression codecs by name (recorded in the repository config) and by per-blob tag. A blob is
 * stored uncompressed whenever compression would not make it smaller (random data).
 */
import { createRequire } from 'node:module';
import { Compression } from './format.js';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as typeof import('zstd-napi');
// The low-level binding compresses into caller-owned buffers: no allocation per block.
const zstdBinding = require('zstd-napi/binding') as typeof import('zstd-napi/binding.js');
// Loaded on first use: most repositories use zstd, and every mover process and worker would pay for it.
let lz4Module: typeof import('lz4-napi') | undefined;
const lz4 = (): typeof import('lz4-napi') => (lz4Module ??= require('lz4-napi') as typeof import('lz4-napi'));

/** The compression names a repository may be initialised with. */
export const COMPRESSION_NAMES = ['zstd', 'lz4', 'none'] as const;
export type CompressionName = (typeof COMPRESSION_NAMES)[number];

/**
 * Compresses blobs with one algorithm; one instance per thread (it holds a zstd context and an
 * output buffer, so the bytes it returns are valid until its next call).
 */
export class BlobCompressor {
  private readonly zstdCtx?: InstanceType<typeof zstdBinding.CCtx>;
  private scratch = Buffer.alloc(0);
  constructor(
    readonly name: CompressionName,
    private readonly level: number,
  ) {
    if (name === 'zstd') this.zstdCtx = new zstdBinding.CCtx();
  }

  /** Returns the compressed bytes and their tag, or the input and `None` when that is no smaller. */
  compress(data: Buffer): { comp: number; bytes: Buffer } {
    let out: Buffer | undefined;
    let comp: number = Compression.None;
    if (this.zstdCtx) {
      const bound = zstdBinding.compressBound(data.length);
      if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafeSlow(bound);
      out = this.scratch.subarray(0, this.zstdCtx.compress(this.scratch, data, this.level));
      comp = Compression.Zstd;
    } else if (this.name === 'lz4') {
      out = lz4().compressSync(data);
      comp = Compression.Lz4;
    }
    if (!out || out.length >= data.length) return { comp: Compression.None, bytes: data };
    return { comp, bytes: out };
  }
}

const zstdDecompressor = new zstd.Decompressor();

const zstdDctx = new zstdBinding.DCtx();

/**
 * Like {@link decompressBlob}, but zstd blobs are decompressed into `scratch` (which must hold the
 * blob's raw length): the result is a view of `scratch` or of `data`, valid until either is reused.
 */
export function decompressBlobInto(comp: number, data: Buffer, scratch: Buffer): Buffer {
  if (comp !== Compression.Zstd) return decompressBlob(comp, data);
  return scratch.subarray(0, zstdDctx.decompress(scratch, data));
}

/** Reverses {@link BlobCompressor.compress} for a blob tagged `comp`. */
export function decompressBlob(comp: number, data: Buffer): Buffer {
  switch (comp) {
    case Compression.None:
      return data;
    case Compression.Zstd:
      return zstdDecompressor.decompress(data);
    case Compression.Lz4:
      return lz4().uncompressSync(data);
    default:
      throw new Error(`unknown compression tag ${comp}`);
  }
}
