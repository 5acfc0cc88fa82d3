/**
 * Prometheus metrics of the controller process (prom-client), on a registry of its own so several
 * managers can live in one test process. Names follow Prometheus conventions (`_total`, `_seconds`,
 * `_bytes`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Counts of objects by label values, computed at scrape time (e.g. backups by phase from the cache). */
export type BackupCounter = () => Iterable<{ phase: string; origin: string; count: number }>;

/** Every metric the runtime and the controllers update. */
export class Metrics {
  readonly registry: Registry;
  /** `csbs_backups{phase,origin}`: Backups currently in each phase (from the informer cache). */
  readonly backups: Gauge<'phase' | 'origin'>;
  /** `csbs_backup_duration_seconds{origin,type,result}`: start to Available/Failed. */
  readonly backupDuration: Histogram<'origin' | 'type' | 'result'>;
  /** `csbs_backup_bytes_read_total{origin}`: bytes the mover read from volumes. */
  readonly bytesRead: Counter<'origin'>;
  /** `csbs_backup_bytes_uploaded_total{origin}`: bytes the mover wrote to repositories (after dedup). */
  readonly bytesUploaded: Counter<'origin'>;
  /** `csbs_restore_duration_seconds{result}`. */
  readonly restoreDuration: Histogram<'result'>;
  /** `csbs_workqueue_depth{controller}`: keys waiting (not counting delayed ones). */
  readonly queueDepth: Gauge<'controller'>;
  /** `csbs_workqueue_adds_total{controller}`. */
  readonly queueAdds: Counter<'controller'>;
  /** `csbs_workqueue_retries_total{controller}`: rate-limited re-adds after errors and conflicts. */
  readonly queueRetries: Counter<'controller'>;
  /** `csbs_reconcile_total{controller,result}`: result is success, requeue, conflict or error. */
  readonly reconciles: Counter<'controller' | 'result'>;
  /** `csbs_reconcile_errors_total{controller}`. */
  readonly reconcileErrors: Counter<'controller'>;
  /** `csbs_reconcile_duration_seconds{controller}`. */
  readonly reconcileDuration: Histogram<'controller'>;
  /** `csbs_leader`: 1 while this process holds the leader lease. */
  readonly leader: Gauge;
  /** `csbs_kube_api_requests_total{verb,resource,code}`: requests to the API server. */
  readonly apiRequests: Counter<'verb' | 'resource' | 'code'>;
  /** `csbs_informer_restarts_total{kind}`: informer restarts after watch/list errors. */
  readonly informerRestarts: Counter<'kind'>;

  private backupCounter: BackupCounter | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [(this.registry = new Registry())];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const counter = this.backupCounterRef();
    this.backups = new Gauge({
      name: 'csbs_backups',
      help: 'Backups by phase and origin',
      labelNames: ['phase', 'origin'],
      registers,
      collect() {
        this.reset();
        for (const { phase, origin, count } of counter()) this.set({ phase, origin }, count);
      },
    });
    const durations = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];
    this.backupDuration = new Histogram({
      name: 'csbs_backup_duration_seconds',
      help: 'Backup duration from start to Available or Failed',
      labelNames: ['origin', 'type', 'result'],
      buckets: durations,
      registers,
    });
    this.bytesRead = new Counter({
      name: 'csbs_backup_bytes_read_total',
      help: 'Bytes read from volumes by backups',
      labelNames: ['origin'],
      registers,
    });
    this.bytesUploaded = new Counter({
      name: 'csbs_backup_bytes_uploaded_total',
      help: 'Bytes uploaded to repositories by backups',
      labelNames: ['origin'],
      registers,
    });
    this.restoreDuration = new Histogram({
      name: 'csbs_restore_duration_seconds',
      help: 'Restore duration',
      labelNames: ['result'],
      buckets: durations,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'csbs_workqueue_depth',
      help: 'Keys waiting in the work queue',
      labelNames: ['controller'],
      registers,
    });
    this.queueAdds = new Counter({
      name: 'csbs_workqueue_adds_total',
      help: 'Keys added to the work queue',
      labelNames: ['controller'],
      registers,
    });
    this.queueRetries = new Counter({
      name: 'csbs_workqueue_retries_total',
      help: 'Keys re-added with backoff',
      labelNames: ['controller'],
      registers,
    });
    this.reconciles = new Counter({
      name: 'csbs_reconcile_total',
      help: 'Reconciles by result',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'csbs_reconcile_errors_total',
      help: 'Reconciles that failed',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'csbs_reconcile_duration_seconds',
      help: 'Reconcile duration',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.leader = new Gauge({ name: 'csbs_leader', help: '1 while this replica is the leader', registers });
    this.apiRequests = new Counter({
      name: 'csbs_kube_api_requests_total',
      help: 'Requests to the Kubernetes API server',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    });
    this.informerRestarts = new Counter({
      name: 'csbs_informer_restarts_total',
      help: 'Informer restarts after list or watch errors',
      labelNames: ['kind'],
      registers,
    });
  }

  /** Sets where `csbs_backups` reads its counts from at scrape time. */
  setBackupCounter(counter: BackupCounter): void {
    this.backupCounter = counter;
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  private backupCounterRef(): BackupCounter {
    return () => (this.backupCounter ? this.backupCounter() : []);
  }
}
