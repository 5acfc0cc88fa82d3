/**
 * The S3-compatible backend: AWS S3, MinIO, Ceph RGW, or any server that speaks the S3 REST API. Objects
 * live under `prefix` in one bucket; puts are single whole-object PUTs, which S3 makes atomic (readers see
 * the old object or the new one, never a mix). Throttling, 5xx and network resets are retried by the SDK
 * with our backoff policy; `RetryBackend` (see `open.ts`) adds a slower outer layer.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { type Backend, NotFoundError, type ObjectInfo, StorageError } from './backend.js';
import { backoffDelay, isTransientError, type RetryPolicy } from './retry.js';

/** Where and how to reach the bucket. Credentials default to the SDK's chain (the AWS env variables first). */
export interface S3BackendOptions {
  bucket: string;
  /** Key prefix inside the bucket, e.g. `backups/prod`; '' for the bucket root. */
  prefix?: string;
  /** A custom endpoint such as `http://127.0.0.1:9000`; omit for AWS. */
  endpoint?: string;
  /** Defaults to AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1 (custom endpoints rarely care). */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most self-hosted servers. */
  forcePathStyle?: boolean;
  /** Explicit credentials (tests); otherwise AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** The per-request retry policy the SDK applies (throttling, 5xx, network resets). */
  retry?: RetryPolicy;
  /** Objects per ListObjectsV2 page (S3's maximum is 1000). */
  listPageSize?: number;
  /** Abort a request that makes no progress for this long. */
  requestTimeoutMs?: number;
  /** Concurrent connections to the endpoint. */
  maxSockets?: number;
}

/** The SDK's quick per-request layer: a few fast retries; `RetryBackend` is the slow outer layer. */
export const defaultS3RequestRetry: RetryPolicy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 2_000 };

type SdkRetryStrategy = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { recordSuccess: unknown }>;
type SdkRetryToken = Awaited<ReturnType<SdkRetryStrategy['acquireInitialRetryToken']>>;

/**
 * Our backoff policy in the shape the SDK's retry middleware wants. It retries what the SDK classifies as
 * throttling (429, SlowDown, Throttling...) or transient (500/502/503/504, resets, timeouts) and sleeps with
 * the policy's own `sleep`, so tests run retries without real waiting.
 */
function sdkRetryStrategy(policy: RetryPolicy): SdkRetryStrategy {
  const token = (count: number): SdkRetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return {
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous, info) => {
      const retries = previous.getRetryCount();
      const retryable = info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT';
      if (!retryable || retries + 1 >= policy.attempts) throw new Error('no retry');
      // Throttling asks us to slow down more than a random 500 does.
      const delay = backoffDelay(policy, info.errorType === 'THROTTLING' ? retries + 1 : retries);
      await sleep(delay);
      return token(retries + 1);
    },
    recordSuccess: () => undefined,
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function isNoSuchBucket(error: unknown): boolean {
  return (error as { name?: string })?.name === 'NoSuchBucket';
}

/** Keys are relative, slash-separated, with no empty, `.` or `..` segment (the shared suite's contract). */
export function checkKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(
      `invalid object key "${key}": use a relative slash-separated key without empty, "." or ".." parts`,
    );
  }
}

/** A {@link Backend} over one S3 bucket and prefix. */
export class S3Backend implements Backend {
  readonly location: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly pageSize: number;

  constructor(options: S3BackendOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new Error(
        `invalid S3 bucket name "${options.bucket}": 3-63 lowercase letters, digits, dots or dashes`,
      );
    }
    this.bucket = options.bucket;
    const trimmed = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed ? `${trimmed}/` : '';
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.pageSize = options.listPageSize ?? 1000;
    const retry = options.retry ?? defaultS3RequestRetry;
    this.client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      retryStrategy: sdkRetryStrategy(retry),
      // Our objects are encrypted and authenticated above this layer, and many S3-compatible servers
      // reject the newer flexible checksums; send them only where an operation requires one.
      requestChecksumCalculation: options.endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      responseChecksumValidation: options.endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      requestHandler: {
        requestTimeout: options.requestTimeoutMs ?? 120_000,
        connectionTimeout: 10_000,
        httpAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 16 },
        httpsAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 16 },
      },
    });
  }

  private fail(op: string, key: string, error: unknown): never {
    if (isNoSuchBucket(error)) {
      throw new StorageError({
        op,
        key,
        location: this.location,
        transient: false,
        attempts: 1,
        cause: new Error(`bucket "${this.bucket}" does not exist: create it, or fix the repository URL`),
      });
    }
    const attempts = (error as { $metadata?: { attempts?: number } })?.$metadata?.attempts ?? 1;
    const transient = isTransientError(error);
    throw new StorageError({ op, key, location: this.location, transient, attempts, cause: error });
  }

  /** GETs an object or a range of it; `start` is the object offset of the first byte the server sent. */
  private async read(op: string, key: string, range?: string): Promise<{ data: Buffer; start: number }> {
    checkKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: range }),
      );
      const start = Number(/^bytes (\d+)-/.exec(out.ContentRange ?? '')?.[1] ?? 0);
      if (!out.Body) return { data: Buffer.alloc(0), start };
      const bytes = await out.Body.transformToByteArray();
      return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), start };
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(key, this.location);
      this.fail(op, key, error);
    }
  }

  async get(key: string): Promise<Buffer> {
    return (await this.read('get', key)).data;
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(
        `getRange ${key}: offset ${offset} and length ${length} must be non-negative integers`,
      );
    }
    if (length === 0) {
      const info = await this.stat(key);
      if (!info) throw new NotFoundError(key, this.location);
      if (offset > info.size)
        throw new RangeError(`getRange ${key}: offset ${offset} is past the end (${info.size} bytes)`);
      return Buffer.alloc(0);
    }
    let data: Buffer;
    try {
      const got = await this.read('getRange', key, `bytes=${offset}-${offset + length - 1}`);
      // HTTP lets a server ignore Range and send the whole object, and some S3 clones send more than asked
      // (s3rver for "bytes=0-0"): take the asked bytes from wherever the answer starts.
      data =
        offset >= got.start
          ? got.data.subarray(offset - got.start, offset - got.start + length)
          : Buffer.alloc(0);
    } catch (error) {
      if (
        error instanceof StorageError &&
        (error.cause as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 416
      ) {
        throw new RangeError(
          `getRange ${key}: bytes ${offset}-${offset + length - 1} are past the end of the object`,
          { cause: error },
        );
      }
      throw error;
    }
    // S3 answers a range that runs past the end with what there is; a short read must never pass silently.
    if (data.length !== length) {
      throw new RangeError(
        `getRange ${key}: asked for ${length} bytes at ${offset}, the object has only ${data.length} there`,
      );
    }
    return data;
  }

  async put(key: string, data: Buffer): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: data,
          ContentLength: data.length,
        }),
      );
    } catch (error) {
      this.fail('put', key, error);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return { key, size: out.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error) && !isNoSuchBucket(error)) return undefined;
      this.fail('stat', key, error);
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    } catch (error) {
      // Some servers answer 404 for a missing key; deleting what is gone is success.
      if (isNotFound(error) && !isNoSuchBucket(error)) return;
      this.fail('delete', key, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.pageSize,
            ContinuationToken: token,
          }),
        );
      } catch (error) {
        this.fail('list', prefix, error);
      }
      for (const object of page.Contents ?? []) {
        if (!object.Key?.startsWith(this.prefix)) continue;
        yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Closes the connection pool (idle keep-alive sockets would otherwise hold the process open briefly). */
  destroy(): void {
    this.client.destroy();
  }
}
