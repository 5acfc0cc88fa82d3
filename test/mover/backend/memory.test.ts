/** The memory backend (for fast tests) keeps the same semantics as the real ones. */
import { MemoryBackend } from '../../../src/mover/backend/memory.js';
import { describeBackendSuite } from './suite.js';

describe('MemoryBackend', function () {
  describeBackendSuite('memory', async () => ({
    backend: new MemoryBackend(),
    close: async () => undefined,
  }));
});
