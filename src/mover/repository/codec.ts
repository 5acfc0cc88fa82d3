/**
 * Compression codecs by name (recorded in the repository config) and by per-blob tag. A blob is
 * stored uncompressed whenever compression would not make it smaller (random data).
 */
import { createRequire } from 'node:module';
import { Compression } from './format.js';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as typeof import('zstd-napi');
const lz4 = require('lz4-napi') as typeof import('lz4-napi');

/** The compression names a repository may be initialised with. */
export const COMPRESSION_NAMES = ['zstd', 'lz4', 'none'] as const;
export type CompressionName = (typeof COMPRESSION_NAMES)[number];

/** Compresses blobs with one algorithm; one instance per thread (it holds a zstd context). */
export class BlobCompressor {
  private readonly zstdCtx?: InstanceType<typeof zstd.Compressor>;
  constructor(
    readonly name: CompressionName,
    level: number,
  ) {
    if (name === 'zstd') {
      this.zstdCtx = new zstd.Compressor();
      this.zstdCtx.setParameters({ compressionLevel: level });
    }
  }

  /** Returns the compressed bytes and their tag, or the input and `None` when that is no smaller. */
  compress(data: Buffer): { comp: number; bytes: Buffer } {
    let out: Buffer | undefined;
    let comp: number = Compression.None;
    if (this.zstdCtx) {
      out = this.zstdCtx.compress(data);
      comp = Compression.Zstd;
    } else if (this.name === 'lz4') {
      out = lz4.compressSync(data);
      comp = Compression.Lz4;
    }
    if (!out || out.length >= data.length) return { comp: Compression.None, bytes: data };
    return { comp, bytes: out };
  }
}

const zstdDecompressor = new zstd.Decompressor();

/** Reverses {@link BlobCompressor.compress} for a blob tagged `comp`. */
export function decompressBlob(comp: number, data: Buffer): Buffer {
  switch (comp) {
    case Compression.None:
      return data;
    case Compression.Zstd:
      return zstdDecompressor.decompress(data);
    case Compression.Lz4:
      return lz4.uncompressSync(data);
    default:
      throw new Error(`unknown compression tag ${comp}`);
  }
}
