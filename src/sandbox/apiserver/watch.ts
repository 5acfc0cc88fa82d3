/**
 * Watch streams: `?watch=true` answers 200 with one `{"type","object"}` JSON line per event, flushed at
 * once. A watch from "" or "0" starts with synthetic ADDED events for the current objects; one from an
 * older resourceVersion replays the retained history, or sends an ERROR event carrying a 410 Expired
 * Status and closes when that history was compacted. Selector-filtered watches see objects move in
 * (ADDED) and out (DELETED) of their selection, as the apiserver's watch cache reports them.
 */
import type { ServerResponse } from 'node:http';
import { expired } from './errors.js';
import type { Rest } from './rest.js';
import { apiVersionOf, resourceKey, type ResourceDefinition } from './resources.js';
import { fieldsOf, labelsOf, type Selector } from './selectors.js';
import type { ObjectStore, StoreEvent } from './store.js';
import type { KubeObject } from './types.js';

/** What one watch request asks for. */
export interface WatchRequest {
  def: ResourceDefinition;
  version: string;
  namespace?: string;
  labels: Selector;
  fields: Selector;
  resourceVersion: string;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
  /** Turns each object into what is sent (Table rows for kubectl `get -w`); identity by default. */
  transform?: (obj: KubeObject) => unknown;
}

interface Watcher {
  request: WatchRequest;
  resource: string;
  res: ServerResponse;
  queued: string[] | undefined;
  timers: NodeJS.Timeout[];
  closed: boolean;
}

/** Watch stream bookkeeping: dispatch, pause, drop, shutdown. */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private paused = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly rest: Rest,
    private readonly bookmarkIntervalMs: number,
  ) {
    store.subscribe((e) => this.dispatch(e));
  }

  /** Number of open watch streams. */
  get size(): number {
    return this.watchers.size;
  }

  /** Starts a stream on `res`; the response stays open until timeout, client close or shutdown. */
  serve(request: WatchRequest, res: ServerResponse): void {
    const watcher: Watcher = {
      request,
      resource: resourceKey(request.def),
      res,
      queued: this.paused ? [] : undefined,
      timers: [],
      closed: false,
    };
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.socket?.setNoDelay(true);
    res.flushHeaders();

    const rv = request.resourceVersion;
    if (rv === '' || rv === '0') {
      for (const obj of this.store.list(watcher.resource, request.namespace)) {
        if (this.matches(watcher, obj)) this.send(watcher, 'ADDED', obj);
      }
    } else {
      const events = this.store.eventsSince(Number(rv));
      if (!events) {
        const status = expired(Number(rv), this.store.oldestWatchableRv + 1).toStatus();
        res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
        return;
      }
      for (const e of events) if (e.resource === watcher.resource) this.deliver(watcher, e);
    }
    this.watchers.add(watcher);
    const close = (): void => this.close(watcher);
    res.on('close', close);
    if (request.timeoutSeconds !== undefined && request.timeoutSeconds >= 0) {
      watcher.timers.push(setTimeout(close, request.timeoutSeconds * 1000));
    }
    if (request.allowBookmarks) {
      const timer = setInterval(() => this.bookmark(watcher), this.bookmarkIntervalMs);
      timer.unref();
      watcher.timers.push(timer);
    }
  }

  private matches(w: Watcher, obj: KubeObject): boolean {
    const r = w.request;
    if (r.namespace !== undefined && obj.metadata.namespace !== r.namespace) return false;
    return r.labels.matches(labelsOf(obj)) && r.fields.matches(fieldsOf(obj));
  }

  private line(w: Watcher, type: string, obj: KubeObject, cache?: Map<string, string>): string {
    if (w.request.transform) {
      const served = this.rest.served(w.request.def, w.request.version, obj);
      return `${JSON.stringify({ type, object: w.request.transform(served) })}\n`;
    }
    // Fan-out: each (type, object, version) is serialised once for all watchers of one event.
    const key = `${type} ${w.request.version}`;
    let text = cache?.get(key);
    if (text === undefined) {
      text = `${JSON.stringify({ type, object: this.rest.served(w.request.def, w.request.version, obj) })}\n`;
      cache?.set(key, text);
    }
    return text;
  }

  private send(w: Watcher, type: string, obj: KubeObject, cache?: Map<string, string>): void {
    this.write(w, this.line(w, type, obj, cache));
  }

  private write(w: Watcher, text: string): void {
    if (w.closed) return;
    if (w.queued) w.queued.push(text);
    else w.res.write(text);
  }

  private deliver(w: Watcher, e: StoreEvent, cache?: Map<string, string>): void {
    const now = this.matches(w, e.object);
    const before = e.previous !== undefined && this.matches(w, e.previous);
    if (e.type === 'ADDED') {
      if (now) this.send(w, 'ADDED', e.object, cache);
    } else if (e.type === 'DELETED') {
      if (now || before) this.send(w, 'DELETED', e.object, cache);
    } else if (now && before) {
      this.send(w, 'MODIFIED', e.object, cache);
    } else if (now) {
      this.send(w, 'ADDED', e.object, cache);
    } else if (before && e.previous) {
      // Left the selection: reported as a deletion of the old state at the new resourceVersion.
      const gone = { ...e.previous, metadata: { ...e.previous.metadata, resourceVersion: String(e.rv) } };
      this.send(w, 'DELETED', gone);
    }
  }

  private dispatch(e: StoreEvent): void {
    const cache = new Map<string, string>();
    for (const w of this.watchers) if (w.resource === e.resource) this.deliver(w, e, cache);
  }

  private bookmark(w: Watcher): void {
    if (w.queued) return;
    const def = w.request.def;
    const object = {
      kind: def.kind,
      apiVersion: apiVersionOf(def.group, w.request.version),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
    };
    this.write(w, `${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
  }

  private close(w: Watcher): void {
    if (w.closed) return;
    w.closed = true;
    for (const t of w.timers) clearTimeout(t);
    this.watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  /** Holds events back from every open stream (a slow network); `resumeEvents` sends them. */
  pauseEvents(): void {
    this.paused = true;
    for (const w of this.watchers) w.queued ??= [];
  }

  /** Sends what `pauseEvents` held back. */
  resumeEvents(): void {
    this.paused = false;
    for (const w of this.watchers) {
      const queued = w.queued ?? [];
      w.queued = undefined;
      for (const text of queued) this.write(w, text);
    }
  }

  /**
   * Closes every stream. With `expired`, each first gets an ERROR 410 event, as when a watcher falls
   * behind a compaction, so informers must re-list; held-back events are discarded.
   */
  dropAll(options: { expired?: boolean } = {}): number {
    const all = [...this.watchers];
    for (const w of all) {
      w.queued = undefined;
      if (options.expired && !w.closed) {
        const status = expired(this.store.resourceVersion - 1, this.store.resourceVersion).toStatus();
        w.res.write(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      }
      this.close(w);
    }
    return all.length;
  }
}
