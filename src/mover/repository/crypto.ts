/**
 * Repository cryptography: keyed BLAKE3 block ids, AES-256-GCM sealing with random 96-bit nonces,
 * and the scrypt key-encryption key that wraps the repository's data and id keys.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Blake3Hasher } = require('@napi-rs/blake-hash') as typeof import('@napi-rs/blake-hash');

export const KEY_BYTES = 32;
export const ID_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a sealed object adds to its plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** The all-zero id marks a hole (an all-zero block) in a page: such blocks are never stored. */
export const ZERO_ID = Buffer.alloc(ID_BYTES);

/** The keyed BLAKE3 hash of `data`: a block or page id that reveals nothing without the id key. */
export function blobId(idKey: Buffer, data: Uint8Array): Buffer {
  // @napi-rs/blake-hash 1.3.4 (pinned) types update() with Buffer only: view the same bytes as one.
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Blake3Hasher.newKeyed(idKey).update(bytes).digestBuffer();
}

/** Encrypts and authenticates `plaintext` (binding `aad`): nonce || ciphertext || tag. */
export function seal(key: Buffer, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(plaintext.length + SEAL_OVERHEAD);
  sealInto(key, plaintext, out, 0, aad);
  return out;
}

/** Like {@link seal} but writes into `out` at `at`; returns the bytes written. */
export function sealInto(
  key: Buffer,
  plaintext: Uint8Array,
  out: Buffer,
  at: number,
  aad?: Uint8Array,
): number {
  const nonce = randomBytes(NONCE_BYTES);
  nonce.copy(out, at);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) cipher.setAAD(aad);
  let n = at + NONCE_BYTES;
  n += cipher.update(plaintext).copy(out, n);
  n += cipher.final().copy(out, n);
  cipher.getAuthTag().copy(out, n);
  return n + TAG_BYTES - at;
}

/** Decrypts a sealed object; throws {@link AuthError} when it was altered or the key is wrong. */
export function open(key: Buffer, sealed: Uint8Array, aad?: Uint8Array): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new AuthError('sealed object too short');
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    const tail = decipher.final();
    return tail.length ? Buffer.concat([body, tail]) : body;
  } catch {
    throw new AuthError('authentication failed');
  }
}

/** The authentication tag did not match: the bytes were altered or the key is wrong. */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** scrypt parameters stored (with the salt) in each key file. */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
  salt: string;
}

/** Fresh parameters for a new key file: N=2^15, r=8 costs ~100 ms and 32 MiB, once per process. */
export function newKdfParams(): KdfParams {
  return { N: 1 << 15, r: 8, p: 1, salt: randomBytes(16).toString('base64') };
}

/** Derives the key-encryption key from the repository secret (a passphrase or random key). */
export function deriveKek(secret: Buffer, params: KdfParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      secret,
      Buffer.from(params.salt, 'base64'),
      KEY_BYTES,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + (1 << 20) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}
