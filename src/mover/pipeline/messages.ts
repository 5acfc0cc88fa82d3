/** Messages between the pipeline's coordinator (main thread) and its worker threads. */
import type { SharedView } from '../aligned.js';

/** Sent to each worker in its `init` message (it may start before the repository opens): keys, codec, slots. */
export interface WorkerInit {
  dataKey: Uint8Array;
  idKey: Uint8Array;
  compression: 'zstd' | 'lz4' | 'none';
  compressionLevel: number;
  /**
   * Shared chunk buffers: a hash request reads into `input`, an encode request seals into `output`,
   * and a restore's decode request writes plaintext into `output`.
   */
  slots: { input: SharedArrayBuffer; output: SharedView }[];
}

/**
 * Read `length` bytes at `offset` of `path` and hash each `blockSize` block. With `want`, read
 * only the blocks whose flag is 1 (changed-block tracking). With `keep`, hold the bytes for `encode`.
 */
export interface HashRequest {
  op: 'hash';
  task: number;
  path: string;
  offset: number;
  length: number;
  blockSize: number;
  want?: Uint8Array;
  keep: boolean;
  /** The shared slot to read into (see {@link WorkerInit.slots}). */
  slot: number;
}

/** Per block of a hash request: its id (zero id for holes and unread blocks), and flags. */
export interface HashReply {
  task: number;
  ids: Uint8Array;
  /** 1 = all-zero block, 2 = not read (want flag 0). */
  flags: Uint8Array;
  readSeconds: number;
  hashSeconds: number;
}

/** Compress and seal the listed blocks of a kept chunk (an empty list just releases it). */
export interface EncodeRequest {
  op: 'encode';
  task: number;
  blocks: number[];
}

/** Forget a kept chunk that has no new blocks, without a reply (saves a round trip per chunk). */
export interface ReleaseRequest {
  op: 'release';
  task: number;
}

/** Sealed blobs back to back in the slot's output; `meta` holds [block, comp, rawLength, sealedLength] per blob. */
export interface EncodeReply {
  task: number;
  length: number;
  meta: Int32Array;
  compressSeconds: number;
  encryptSeconds: number;
}

/** Where a decode request's sealed bytes come from: sent along, or a local pack file range to read. */
export interface DecodeSource {
  data?: Uint8Array;
  file?: { path: string; offset: number; length: number };
}

/** Numbers per blob in {@link DecodeRequest.meta}. */
export const DECODE_META = 6;

/**
 * Open, decompress and verify sealed blobs. `meta` holds per blob [source, offset in the source,
 * sealed length, compression, raw length, output offset], its id is in `ids`. With `output`, each
 * plaintext goes to its offset in that slot's output buffer, for the coordinator to write; without,
 * blobs are only verified.
 */
export interface DecodeRequest {
  op: 'decode';
  task: number;
  sources: DecodeSource[];
  meta: Int32Array;
  ids: Uint8Array;
  output?: number;
}

/** Blobs that failed (index into the request, reason, and whether their source file was missing). */
export interface DecodeReply {
  task: number;
  failures: { item: number; reason: string; missing?: boolean }[];
  /** Seconds spent reading source files. */
  readSeconds: number;
  decodeSeconds: number;
}

/** Write `length` zero bytes at each position of `targetPath`. */
export interface ZeroRequest {
  op: 'zero';
  task: number;
  targetPath: string;
  positions: number[];
  length: number;
}

export type WorkerRequest = HashRequest | EncodeRequest | DecodeRequest | ZeroRequest;
/** Requests answered by no reply. */
export type WorkerNotice = ReleaseRequest;

/** A failed request: the error's message and, for file errors, its errno code. */
export interface ErrorReply {
  task: number;
  error: { message: string; code?: string };
}
