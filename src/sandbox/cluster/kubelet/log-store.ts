/**
 * Container logs as the kubelet keeps them: one file per container instance, in the CRI log format
 * (`<RFC3339Nano> <stream> <F|P> <text>`), under `pods/<ns>_<pod>_<uid>/<container>/<n>.log`. Serves
 * `pods/log` for the API server (`PodLogSource`) and the tail used by `FallbackToLogsOnError`.
 */
import { EventEmitter, on } from 'node:events';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PodLogRequest, PodLogSource } from '../../extensions.js';

/** Identity of one container of one pod instance. */
export interface ContainerKey {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
}

interface LogLine {
  time: string;
  stream: string;
  full: boolean;
  text: string;
}

function parseLine(line: string): LogLine | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
  return m ? { time: m[1]!, stream: m[2]!, full: m[3] === 'F', text: m[4]! } : undefined;
}

function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** Renders stored lines the way `kubectl logs` shows them. */
function render(lines: LogLine[], timestamps: boolean | undefined): string {
  return lines.map((l) => (timestamps ? `${l.time} ` : '') + l.text + (l.full ? '\n' : '')).join('');
}

/** Writes one container instance's output; lines are split per stream as the kubelet does. */
export class ContainerLogWriter {
  private readonly out: WriteStream;
  private readonly partial: Record<string, string> = { stdout: '', stderr: '' };
  private closed = false;
  /** Lines written so far (raw CRI lines), kept while the container runs so followers start consistently. */
  readonly lines: string[] = [];

  constructor(
    readonly path: string,
    private readonly events: EventEmitter,
  ) {
    this.out = createWriteStream(path, { flags: 'a' });
  }

  /** Appends output of `stream`; complete lines are stored at once, a trailing partial line at close. */
  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    if (this.closed) return;
    const text = this.partial[stream] + chunk.toString();
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const part of parts) this.emit(stream, true, part);
  }

  private emit(stream: string, full: boolean, text: string): void {
    const line = `${rfc3339Nano(new Date())} ${stream} ${full ? 'F' : 'P'} ${text}\n`;
    this.out.write(line);
    this.lines.push(line);
    this.events.emit(this.path, line);
  }

  /** Flushes partial lines and closes the file; followers then end. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const stream of ['stdout', 'stderr'])
      if (this.partial[stream]) this.emit(stream, false, this.partial[stream]!);
    this.closed = true;
    await new Promise<void>((resolve) => this.out.end(resolve));
    this.events.emit(this.path, null);
  }
}

/** All container logs of the node. */
export class LogStore implements PodLogSource {
  private readonly events = new EventEmitter();
  private readonly live = new Map<string, ContainerLogWriter>();

  constructor(readonly root: string) {
    this.events.setMaxListeners(0);
  }

  private podDir(k: Omit<ContainerKey, 'container'>): string {
    return join(this.root, `${k.namespace}_${k.pod}_${k.uid}`);
  }

  private containerDir(k: ContainerKey): string {
    return join(this.podDir(k), k.container);
  }

  /** Starts the log of instance `instance` (0 = first run, then the restart count) of a container. */
  async open(k: ContainerKey, instance: number): Promise<ContainerLogWriter> {
    await mkdir(this.containerDir(k), { recursive: true });
    const path = join(this.containerDir(k), `${instance}.log`);
    await appendFile(path, ''); // exists before open() returns, so readers find it at once
    const w = new ContainerLogWriter(path, this.events);
    this.live.set(path, w);
    const close = w.close.bind(w);
    w.close = async () => {
      await close();
      this.live.delete(path);
    };
    return w;
  }

  /** Instances of a container that have a log, ascending. */
  private async instances(k: ContainerKey): Promise<number[]> {
    try {
      const names = await readdir(this.containerDir(k));
      return names
        .map((n) => /^(\d+)\.log$/.exec(n))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b);
    } catch {
      return [];
    }
  }

  private async pathFor(req: PodLogRequest): Promise<string | undefined> {
    const list = await this.instances(req);
    const n = req.previous ? list[list.length - 2] : list[list.length - 1];
    return n === undefined ? undefined : join(this.containerDir(req), `${n}.log`);
  }

  private static select(lines: LogLine[], req: PodLogRequest): string {
    let sel = lines;
    if (req.sinceSeconds !== undefined) {
      const since = Date.now() - req.sinceSeconds * 1000;
      sel = sel.filter((l) => Date.parse(l.time) >= since);
    }
    if (req.tailLines !== undefined) sel = req.tailLines <= 0 ? [] : sel.slice(-req.tailLines);
    return render(sel, req.timestamps);
  }

  private static async readLines(path: string): Promise<LogLine[]> {
    const text = await readFile(path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .map(parseLine)
      .filter((l): l is LogLine => l !== undefined);
  }

  /** {@inheritDoc PodLogSource.read} */
  async read(req: PodLogRequest): Promise<Buffer | undefined> {
    const path = await this.pathFor(req);
    if (!path) return undefined;
    const out = Buffer.from(LogStore.select(await LogStore.readLines(path), req));
    return req.limitBytes !== undefined ? out.subarray(0, req.limitBytes) : out;
  }

  /** {@inheritDoc PodLogSource.follow} */
  follow(req: PodLogRequest, signal: AbortSignal): AsyncIterable<Buffer> | undefined {
    if (!existsSync(this.containerDir(req))) return undefined;
    return this.followLines(req, signal);
  }

  private async *followLines(req: PodLogRequest, signal: AbortSignal): AsyncGenerator<Buffer> {
    const path = await this.pathFor(req);
    if (!path) return;
    let budget = req.limitBytes ?? Infinity;
    const emit = (s: string): Buffer | undefined => {
      if (budget <= 0 || s === '') return undefined;
      const b = Buffer.from(s).subarray(0, budget);
      budget -= b.length;
      return b;
    };
    // A live writer's lines and the subscription are taken in the same tick: nothing lost or doubled.
    const writer = this.live.get(path);
    const iter = writer ? on(this.events, path, { signal }) : undefined;
    const existing = writer
      ? writer.lines.map((l) => parseLine(l.replace(/\n$/, ''))).filter((l): l is LogLine => l !== undefined)
      : await LogStore.readLines(path);
    const first = emit(LogStore.select(existing, req));
    if (first) yield first;
    if (!iter) return;
    try {
      for await (const [line] of iter as AsyncIterable<[string | null]>) {
        if (line === null || budget <= 0) break;
        const parsed = parseLine(line.replace(/\n$/, ''));
        const b = parsed ? emit(render([parsed], req.timestamps)) : undefined;
        if (b) yield b;
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }

  /**
   * The end of the latest instance's log, for `FallbackToLogsOnError`: at most `maxLines` lines and
   * `maxBytes` bytes (the kubelet uses 80 lines, 2048 bytes).
   */
  async tail(k: ContainerKey, maxLines = 80, maxBytes = 2048): Promise<string> {
    const buf = await this.read({ ...k, tailLines: maxLines });
    if (!buf) return '';
    return buf.length > maxBytes
      ? buf.subarray(buf.length - maxBytes).toString('utf8')
      : buf.toString('utf8');
  }

  /** Forgets a deleted pod's logs. */
  async removePod(k: Omit<ContainerKey, 'container'>): Promise<void> {
    await rm(this.podDir(k), { recursive: true, force: true });
  }
}
