/**
 * A young-generation collection on demand. The data path allocates a fresh native buffer per block
 * or range (Node's cipher, zstd and file APIs allocate), and V8 frees such external memory lazily:
 * tens of MiB per thread. Collecting every few chunks keeps the process's memory flat.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;

/** Returns a function that runs a minor GC every `every` calls. */
export function everyNth(every: number): () => void {
  let calls = 0;
  return () => {
    if (++calls < every) return;
    calls = 0;
    gc({ type: 'minor' });
  };
}

/**
 * Returns a function to call with the bytes of native buffers just allocated (blocks decoded or
 * sealed); it runs a minor GC once `limit` bytes have accumulated. Collecting by volume rather
 * than by call keeps memory flat on full backups and restores without paying a collection per
 * chunk on incrementals, whose chunks produce almost no garbage.
 */
export function afterBytes(limit: number): (bytes: number) => void {
  let pending = 0;
  return (bytes) => {
    pending += bytes;
    if (pending < limit) return;
    pending = 0;
    gc({ type: 'minor' });
  };
}
