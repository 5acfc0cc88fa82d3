/**
 * `npm run bench sandbox`: throughput and memory of the sandbox API server with 10,000 objects.
 *
 * - create: POSTs of VolumeSnapshots (a custom resource, so schema admission runs) from 32 concurrent
 *   keep-alive node:http clients (lighter than fetch, so the figures are the server's);
 * - list: full lists of all objects, and label-selected lists of 1 % of them;
 * - watch fan-out: 100 watchers on the resource while 1,000 objects are patched; events delivered per second;
 * - memory: RSS and V8 heap after the objects are stored, and with the watchers open.
 *
 * Options: `--objects=N`, `--concurrency=N`, `--watchers=N`, `--updates=N`. Results go to
 * `bench/results/sandbox.{json,md}`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ApiServer } from '../src/sandbox/apiserver/index.js';
import { installCrds, readCrds, thirdPartyCrdDir } from '../src/sandbox/index.js';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function option(args: string[], name: string, fallback: number): number {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
}

function memory(): { rssMiB: number; heapUsedMiB: number } {
  collect();
  const m = process.memoryUsage();
  const mib = (n: number): number => Math.round((n / 1024 / 1024) * 10) / 10;
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed) };
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const round = (n: number): number => Math.round(n);

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request on a keep-alive connection; resolves with status and body. */
function call(
  url: string,
  method = 'GET',
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      url,
      { method, agent, headers: data ? { 'Content-Type': contentType, 'Content-Length': data.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Runs the benchmark and writes its results. */
export async function run(args: string[]): Promise<void> {
  const objects = option(args, 'objects', 10_000);
  const concurrency = option(args, 'concurrency', 32);
  const watchers = option(args, 'watchers', 100);
  const updates = option(args, 'updates', 1_000);

  const baseline = memory();
  const server = new ApiServer({ watchHistory: objects + updates + 1000 });
  await server.start();
  installCrds(server, await readCrds(thirdPartyCrdDir()));
  const base = `${server.url}/apis/snapshot.storage.k8s.io/v1/namespaces/default/volumesnapshots`;
  try {
    const empty = memory();
    const createSecs = await timed(() =>
      pool(objects, concurrency, async (i) => {
        const res = await call(base, 'POST', {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshot',
          metadata: { name: `snap-${i}`, labels: { shard: String(i % 100), 'csbs.dev/backup': `b-${i}` } },
          spec: {
            source: { persistentVolumeClaimName: `pvc-${i}` },
            volumeSnapshotClassName: 'csbs-sandbox',
          },
        });
        if (res.status !== 201) throw new Error(`create ${i}: HTTP ${res.status} ${res.body.toString()}`);
      }),
    );
    const loaded = memory();

    const fullLists = 20;
    let listBytes = 0;
    const listSecs = await timed(async () => {
      for (let i = 0; i < fullLists; i++) {
        listBytes = (await call(base)).body.length;
      }
    });
    const selectedLists = 500;
    const selectSecs = await timed(() =>
      pool(selectedLists, 8, async (i) => {
        const res = await call(`${base}?labelSelector=shard%3D${i % 100}`);
        const body = JSON.parse(res.body.toString()) as { items: unknown[] };
        if (body.items.length !== objects / 100) throw new Error(`selected ${body.items.length} items`);
      }),
    );

    // Watch fan-out: every watcher must see every update.
    const counts = new Array<number>(watchers).fill(0);
    let resolveAll!: () => void;
    const allSeen = new Promise<void>((r) => (resolveAll = r));
    let finished = 0;
    const rv = server.resourceVersion;
    const streams = await Promise.all(
      counts.map(
        (_, w) =>
          new Promise<{ destroy(): void }>((resolve, reject) => {
            const req = request(`${base}?watch=true&resourceVersion=${rv}`, (res) => {
              res.on('data', (chunk: Buffer) => {
                for (const byte of chunk) {
                  if (byte !== 10) continue;
                  counts[w] += 1;
                  if (counts[w] === updates && ++finished === watchers) resolveAll();
                }
              });
              res.on('error', () => undefined);
              resolve(req);
            });
            req.on('error', reject);
            req.end();
          }),
      ),
    );
    const watching = memory();
    const fanoutSecs = await timed(async () => {
      await pool(updates, concurrency, async (i) => {
        const res = await call(
          `${base}/snap-${i}`,
          'PATCH',
          { metadata: { annotations: { touched: String(i) } } },
          'application/merge-patch+json',
        );
        if (res.status !== 200) throw new Error(`patch ${i}: HTTP ${res.status}`);
      });
      await allSeen;
    });
    for (const st of streams) st.destroy();

    const results = {
      date: new Date().toISOString(),
      node: process.version,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? '',
        memGiB: Math.round(totalmem() / 2 ** 30),
      },
      parameters: { objects, concurrency, watchers, updates },
      create: { seconds: createSecs, requestsPerSecond: round(objects / createSecs) },
      list: {
        fullListsPerSecond: Math.round((fullLists / listSecs) * 10) / 10,
        objectsPerSecond: round((fullLists * objects) / listSecs),
        fullListMiB: Math.round((listBytes / 2 ** 20) * 10) / 10,
        selectedListsPerSecond: round(selectedLists / selectSecs),
      },
      watchFanout: {
        updatesPerSecond: round(updates / fanoutSecs),
        eventsDeliveredPerSecond: round((updates * watchers) / fanoutSecs),
      },
      memory: {
        processBaseline: baseline,
        serverEmpty: empty,
        withObjects: loaded,
        withWatchers: watching,
        heapPerObjectKiB: Math.round(((loaded.heapUsedMiB - empty.heapUsedMiB) * 1024 * 10) / objects) / 10,
      },
    };
    const here = dirname(fileURLToPath(import.meta.url));
    const dir = join(here, '..', '..', 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'sandbox.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = [
      `# Sandbox API server benchmark`,
      '',
      `${results.date}, Node ${results.node}, ${results.machine.cpus} CPUs (${results.machine.cpuModel}). The server runs in the`,
      `benchmark's process; clients are keep-alive node:http connections on 127.0.0.1. Objects are VolumeSnapshots`,
      `(custom resources: schema admission on every write).`,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| create (${objects} objects, ${concurrency} concurrent clients) | ${results.create.requestsPerSecond} requests/s |`,
      `| full list of ${objects} objects (${results.list.fullListMiB} MiB) | ${results.list.fullListsPerSecond} lists/s (${results.list.objectsPerSecond} objects/s) |`,
      `| label-selected list (${objects / 100} of ${objects}) | ${results.list.selectedListsPerSecond} lists/s |`,
      `| watch fan-out: ${updates} updates to ${watchers} watchers | ${results.watchFanout.updatesPerSecond} updates/s, ${results.watchFanout.eventsDeliveredPerSecond} events delivered/s |`,
      `| heap with ${objects} objects | ${loaded.heapUsedMiB} MiB (${results.memory.heapPerObjectKiB} KiB/object; empty server ${empty.heapUsedMiB} MiB) |`,
      `| RSS with ${objects} objects / plus ${watchers} watchers | ${loaded.rssMiB} MiB / ${watching.rssMiB} MiB |`,
      '',
    ].join('\n');
    await writeFile(join(dir, 'sandbox.md'), md);
    process.stdout.write(md);
  } finally {
    agent.destroy();
    await server.stop();
  }
}
