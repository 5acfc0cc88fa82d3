/**
 * Turns a `--repo` value into a backend: a directory path -> {@link DirectoryBackend},
 * `s3://bucket/prefix` -> {@link S3Backend}; both wrapped in {@link RetryBackend}.
 */
import { MoverError } from '../errors.js';
import type { Backend } from './backend.js';
import { DirectoryBackend } from './directory.js';
import { RetryBackend, type RetryEvent, type RetryPolicy } from './retry.js';

/** Options of {@link openBackend}; S3 credentials come from the AWS env variables. */
export interface OpenBackendOptions {
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  retry?: RetryPolicy;
  onRetry?: (event: RetryEvent) => void;
}

/** Opens the backend a `--repo` value names (the S3 SDK is loaded only for s3:// repositories). */
export async function openBackend(url: string, options: OpenBackendOptions = {}): Promise<Backend> {
  let inner: Backend;
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    const { S3Backend } = await import('./s3.js');
    try {
      inner = new S3Backend({
        bucket,
        prefix,
        ...(options.s3Endpoint ? { endpoint: options.s3Endpoint } : {}),
        ...(options.s3Region ? { region: options.s3Region } : {}),
        ...(options.s3ForcePathStyle ? { forcePathStyle: true } : {}),
      });
    } catch (err) {
      throw new MoverError('Usage', `--repo ${url}: ${(err as Error).message}`);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new MoverError('Usage', `--repo ${url}: use a directory path or s3://bucket/prefix`);
  } else if (url === '') {
    throw new MoverError('Usage', '--repo is empty: use a directory path or s3://bucket/prefix');
  } else {
    inner = new DirectoryBackend(url);
  }
  return new RetryBackend(inner, {
    ...(options.retry ? { policy: options.retry } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
}
