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
