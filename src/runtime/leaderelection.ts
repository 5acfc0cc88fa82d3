/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the lease
 * every retry period; a candidate takes it over once it has seen the same record, unchanged, for a whole
 * lease duration on its own clock (so clock skew between replicas does not matter); the leader steps
 * down when it could not renew within the renew deadline, and releases the lease on shutdown so a
 * successor need not wait for expiry. Writes are guarded by resourceVersion, so two candidates can
 * never both win the same round.
 */
import type { V1Lease } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { systemClock, type Clock } from './clock.js';
import { isAlreadyExists, isConflict } from './errors.js';
import { Kinds } from './kinds.js';
import { errorFields, silentLogger, type Logger } from './logging.js';

/** Settings of {@link LeaderElector}. Durations follow client-go's defaults (15 s / 10 s / 2 s). */
export interface LeaderElectionConfig {
  leaseName: string;
  leaseNamespace: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  /** How long a lease stays valid without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** The leader steps down when it could not renew for this long (default 10 s; < leaseDuration). */
  renewDeadlineMs?: number;
  /** Interval between acquire/renew attempts (default 2 s). */
  retryPeriodMs?: number;
  /** Release the lease on stop() (default true); false leaves it to expire, as a crash would. */
  releaseOnCancel?: boolean;
}

/** Callbacks and dependencies of {@link LeaderElector}. */
export interface LeaderElectorOptions extends LeaderElectionConfig {
  client: KubeClient;
  clock?: Clock;
  logger?: Logger;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** Called when a different holder is observed (including ''). */
  onNewLeader?: (identity: string) => void;
}

/** Where this replica stands: unknown until the first attempt has an answer. */
export type LeadershipState = 'unknown' | 'leader' | 'follower';

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Lease MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Campaigns for, holds and releases one Lease. */
export class LeaderElector {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private current: LeadershipState = 'unknown';
  private observed: { spec: string; holder: string; atMs: number } | undefined;
  private lastRenewMs = 0;
  private stopping: AbortController | undefined;
  private loopDone: Promise<void> | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger()).child({
      lease: `${opts.leaseNamespace}/${opts.leaseName}`,
      identity: opts.identity,
    });
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs))
      throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (!(this.retryPeriodMs < this.renewDeadlineMs))
      throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
  }

  /** The identity this replica campaigns with. */
  get identity(): string {
    return this.opts.identity;
  }

  /** Leader, follower, or unknown (no answer from the API server yet). */
  state(): LeadershipState {
    return this.current;
  }

  /** True while this replica holds the lease. */
  isLeader(): boolean {
    return this.current === 'leader';
  }

  /** Starts campaigning in the background. */
  start(): void {
    if (this.loopDone) return;
    this.stopping = new AbortController();
    this.loopDone = this.loop(this.stopping.signal);
  }

  /** Stops campaigning; a leader releases the lease (holder '') so a successor takes over at once. */
  async stop(): Promise<void> {
    if (!this.loopDone) return;
    this.stopping?.abort(new Error('leader election stopped'));
    await this.loopDone;
    this.loopDone = undefined;
    if (this.current === 'leader') {
      if (this.opts.releaseOnCancel ?? true) await this.release();
      this.setState('follower');
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let renewed = false;
      try {
        renewed = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn('lease update failed', errorFields(err));
      }
      if (signal.aborted) break;
      const now = this.clock.nowMs();
      if (renewed) {
        this.lastRenewMs = now;
        if (this.current !== 'leader') {
          this.log.info('became leader');
          this.setState('leader');
        }
      } else if (this.current === 'leader') {
        if (this.observed && this.observed.holder !== this.opts.identity) {
          this.log.error('leadership lost: another replica holds the lease', {
            holder: this.observed.holder,
          });
          this.setState('follower');
        } else if (now - this.lastRenewMs >= this.renewDeadlineMs) {
          this.log.error('leadership lost: lease not renewed within the renew deadline');
          this.setState('follower');
        }
      } else if (this.observed) {
        // We have seen the lease (held by someone else): we know we are a follower.
        this.setState('follower');
      }
      try {
        await this.clock.sleep(this.retryPeriodMs, signal);
      } catch {
        break;
      }
    }
  }

  private setState(next: LeadershipState): void {
    const prev = this.current;
    if (prev === next) return;
    this.current = next;
    if (next === 'leader') this.opts.onStartedLeading?.();
    if (prev === 'leader') this.opts.onStoppedLeading?.();
  }

  /** One round: create, renew or take over the lease. True when we hold it afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, leaseName, leaseNamespace, identity } = this.opts;
    const now = this.clock.nowMs();
    const durationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    const existing = await client.tryGet(Kinds.Lease, leaseNamespace, leaseName);
    if (!existing) {
      const spec: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      try {
        await client.create(Kinds.Lease, {
          metadata: { name: leaseName, namespace: leaseNamespace },
          spec,
        } as unknown as V1Lease);
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
      this.observe(spec, now);
      return true;
    }
    const spec = (existing.spec ?? {}) as unknown as LeaseSpec;
    this.observe(spec, now);
    const holder = spec.holderIdentity ?? '';
    const observedAt = this.observed?.atMs ?? now;
    if (holder !== '' && holder !== identity && now - observedAt < this.leaseDurationMs) return false;
    const takingOver = holder !== identity;
    const next: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: takingOver ? microTime(now) : (spec.acquireTime ?? microTime(now)),
      renewTime: microTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder !== '' ? 1 : 0),
    };
    try {
      await client.replace(Kinds.Lease, { ...existing, spec: next } as unknown as V1Lease);
    } catch (err) {
      // Someone else wrote first this round.
      if (isConflict(err)) return false;
      throw err;
    }
    if (takingOver) this.log.info('acquired lease', { previousHolder: holder });
    this.observe(next, now);
    return true;
  }

  /** Remembers the lease record and when it last changed, on our clock. */
  private observe(spec: LeaseSpec, now: number): void {
    const key = JSON.stringify([spec.holderIdentity ?? '', spec.renewTime ?? '', spec.leaseTransitions ?? 0]);
    if (this.observed?.spec === key) return;
    const holder = spec.holderIdentity ?? '';
    if (this.observed?.holder !== holder) this.opts.onNewLeader?.(holder);
    this.observed = { spec: key, holder, atMs: now };
  }

  private async release(): Promise<void> {
    const { client, leaseName, leaseNamespace, identity } = this.opts;
    try {
      const existing = await client.get(Kinds.Lease, leaseNamespace, leaseName);
      const spec = (existing.spec ?? {}) as unknown as LeaseSpec;
      if (spec.holderIdentity !== identity) return;
      const now = microTime(this.clock.nowMs());
      const released: LeaseSpec = {
        ...spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: now,
        acquireTime: now,
      };
      await client.replace(Kinds.Lease, { ...existing, spec: released } as unknown as V1Lease);
      this.log.info('released lease');
    } catch (err) {
      this.log.warn('could not release lease; successor waits for expiry', errorFields(err));
    }
  }
}
