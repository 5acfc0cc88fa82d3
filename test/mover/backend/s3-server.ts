/** Test helpers: a real S3 server (s3rver in a child process) on 127.0.0.1, and backends pointed at it. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { S3Backend, type S3BackendOptions } from '../../../src/mover/backend/s3.js';

// The SDK warns on Node < 22 that future releases will need it; that is not news for these tests.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A running S3 server. */
export interface TestS3Server {
  endpoint: string;
  port: number;
  bucket: string;
  stop(): Promise<void>;
}

/** The static credentials s3rver accepts. */
export const testCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Starts s3rver with `bucket` created, on a free port of 127.0.0.1, storing into a fresh temp dir. */
export async function startS3Server(bucket = 'csbs-test'): Promise<TestS3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'csbs-s3rver-'));
  const script = fileURLToPath(new URL('./s3rver-child.js', import.meta.url));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, dir, bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An S3Backend on `server` (or on `endpoint`, e.g. a fault proxy in front of it). */
export function s3BackendFor(
  server: TestS3Server,
  options: Partial<S3BackendOptions> & { prefix: string },
): S3Backend {
  return new S3Backend({
    bucket: server.bucket,
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: testCredentials,
    ...options,
  });
}
