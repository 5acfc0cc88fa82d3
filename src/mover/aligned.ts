/**
 * Page-aligned buffers, so large objects can be written with O_DIRECT (no copy into the page cache,
 * which costs more CPU than sealing the data on a virtual machine, and evicts the node's cache).
 * JavaScript cannot ask for alignment; WebAssembly memory is mapped by the engine on page
 * boundaries, so one shared WebAssembly memory is carved into aligned slices. If the engine cannot
 * reserve it (a virtual-memory ulimit), an ordinary SharedArrayBuffer is used and writes fall back
 * to buffered I/O.
 */

/** Alignment O_DIRECT needs on Linux file systems: the page size covers every logical block size. */
export const DIRECT_ALIGN = 4096;
const WASM_PAGE = 65536;

/** The one WebAssembly constructor used here (the project's TypeScript libs leave WebAssembly out). */
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => {
    buffer: SharedArrayBuffer;
  };
};

/** A view of shared memory that can cross to worker threads (a Buffer cannot). */
export interface SharedView {
  buffer: SharedArrayBuffer;
  offset: number;
  length: number;
}

/** `count` shared views of `size` bytes each, page-aligned when the engine allows it. */
export function alignedViews(count: number, size: number): SharedView[] {
  const stride = Math.ceil(size / DIRECT_ALIGN) * DIRECT_ALIGN;
  const pages = Math.max(1, Math.ceil((stride * count) / WASM_PAGE));
  let arena: SharedArrayBuffer;
  try {
    arena = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  } catch {
    arena = new SharedArrayBuffer(stride * count);
  }
  return Array.from({ length: count }, (_, i) => ({ buffer: arena, offset: i * stride, length: size }));
}

/** `count` buffers of `size` bytes each, page-aligned when the engine allows it. */
export function alignedBuffers(count: number, size: number): Buffer[] {
  return alignedViews(count, size).map((v) => Buffer.from(v.buffer, v.offset, v.length));
}
