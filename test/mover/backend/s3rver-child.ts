/**
 * Runs the `s3rver` S3 server on 127.0.0.1 in its own process and prints `{"port":N}` once it listens.
 * A separate process because s3rver makes list continuation tokens with DES, which Node 17+ only offers
 * under `--openssl-legacy-provider`; the flag stays out of the test process itself.
 * Usage: node --openssl-legacy-provider s3rver-child.js <dataDir> <bucket>...
 */
import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
// The parent closes our stdin to stop us (also when it dies without cleaning up).
process.stdin.resume();
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
