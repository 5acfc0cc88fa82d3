/**
 * Kubernetes Events (core v1) about our objects, as `kubectl describe` shows them. Repeats of the same
 * (object, type, reason, message) within the aggregation window bump `count` and `lastTimestamp` of the
 * existing Event instead of creating a new one. Recording never fails a reconcile: errors are logged.
 */
import { randomBytes } from 'node:crypto';
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { systemClock, type Clock } from './clock.js';
import { Kinds } from './kinds.js';
import { errorFields, silentLogger, type Logger } from './logging.js';

/** `Normal` for progress, `Warning` for anything a user should look at. */
export type EventType = 'Normal' | 'Warning';

/** What controllers use to tell users what happened. Resolves when written (or dropped); never rejects. */
export interface EventRecorder {
  /** A Normal event, e.g. `normal(backup, 'SnapshotsTaken', '2 VolumeSnapshots ready')`. */
  normal(obj: KubernetesObject, reason: string, message: string): Promise<void>;
  /** A Warning event, e.g. `warning(backup, 'UploadFailed', 'volume disk0: mover exited 3 (wrong key)')`. */
  warning(obj: KubernetesObject, reason: string, message: string): Promise<void>;
  /** An event of either type. */
  event(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void>;
}

/** Options of {@link KubeEventRecorder}. */
export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`, e.g. `csbs-controller`. */
  component: string;
  /** `reportingInstance`, e.g. the pod name. */
  instance?: string;
  clock?: Clock;
  logger?: Logger;
  /** Repeats within this window are aggregated (default 10 min; 0 disables aggregation). */
  aggregateWindowMs?: number;
}

interface Recent {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastMs: number;
}

const maxMessage = 1024;
const maxRecent = 4096;

/** Writes core v1 Events through the kube client. */
export class KubeEventRecorder implements EventRecorder {
  private readonly recent = new Map<string, Recent>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly windowMs: number;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: EventRecorderOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.windowMs = opts.aggregateWindowMs ?? 10 * 60_000;
  }

  normal(obj: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Normal', reason, message);
  }

  warning(obj: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.event(obj, 'Warning', reason, message);
  }

  async event(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const meta = obj.metadata ?? {};
    const text = message.length > maxMessage ? `${message.slice(0, maxMessage - 3)}...` : message;
    const key = [meta.uid ?? `${meta.namespace}/${meta.name}`, type, reason, text].join('\u0000');
    const nowMs = this.clock.nowMs();
    const now = this.clock.now().toISOString();
    try {
      const prior = this.recent.get(key);
      if (prior && this.windowMs > 0 && nowMs - prior.lastMs < this.windowMs) {
        prior.count++;
        prior.lastMs = nowMs;
        try {
          await this.client.patch(Kinds.Event, prior.namespace, prior.name, {
            count: prior.count,
            lastTimestamp: now,
          });
          return;
        } catch {
          // The event expired or was deleted: record a fresh one below.
          this.recent.delete(key);
        }
      }
      const namespace = meta.namespace || 'default';
      const ev: CoreV1Event = {
        metadata: { name: `${meta.name ?? 'object'}.${randomBytes(8).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        type,
        reason,
        message: text,
        count: 1,
        source: { component: this.opts.component },
        reportingComponent: this.opts.component,
        reportingInstance: this.opts.instance ?? this.opts.component,
        action: reason,
      };
      // Timestamps go as strings: the objects are plain JSON, not client-node's Date models.
      const body = { ...ev, firstTimestamp: now, lastTimestamp: now } as unknown as CoreV1Event;
      const created = await this.client.create(Kinds.Event, body);
      if (this.windowMs > 0) {
        if (this.recent.size >= maxRecent) this.recent.delete(this.recent.keys().next().value as string);
        this.recent.set(key, {
          name: created.metadata?.name ?? ev.metadata.name ?? '',
          namespace,
          count: 1,
          firstTimestamp: now,
          lastMs: nowMs,
        });
      }
    } catch (err) {
      this.log.warn('could not record event', {
        eventReason: reason,
        eventType: type,
        namespace: meta.namespace,
        name: meta.name,
        ...errorFields(err),
      });
    }
  }
}
