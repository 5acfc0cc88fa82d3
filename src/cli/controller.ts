/**
 * `csbs controller`: the operator process the Deployment runs. Loads the reconcilers of
 * `src/controllers/index.ts` into a Manager (informers, work queues, leader election, events, metrics,
 * probes) and runs until SIGTERM/SIGINT, then drains and releases the lease.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { InvalidArgumentError, type Command } from 'commander';
import { parseBindAddress } from '../runtime/httpserver.js';

// Only what flag parsing needs is imported eagerly: main.ts registers every subcommand, and
// `csbs mover` in a backup Job should not pay for loading client-node and the controllers.
const logLevels = ['error', 'warn', 'info', 'debug'] as const;
type LogLevel = (typeof logLevels)[number];

const serviceAccountNamespace = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Parsed flags of `csbs controller`. */
export interface ControllerFlags {
  kubeconfig?: string;
  namespace?: string;
  leaderElect: boolean;
  leaderElectionId: string;
  leaderElectionNamespace?: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  logLevel: LogLevel;
  concurrency: number;
}

/** `500ms`, `15s`, `2m`, `1h` (or a bare number of seconds) -> milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`"${value}" is not a duration: use e.g. 500ms, 15s, 2m`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

function parseBool(value: string | undefined): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError(`"${value}" is not a boolean: use true or false`);
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" must be a positive integer`);
  return n;
}

function parseAddress(value: string): string {
  try {
    parseBindAddress(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

function parseLevel(value: string): LogLevel {
  if (!(logLevels as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`"${value}" is not a log level: use one of ${logLevels.join(', ')}`);
  }
  return value as LogLevel;
}

/** Loads the kubeconfig: the given file, else $KUBECONFIG / ~/.kube/config, else in-cluster. */
export async function loadKubeConfig(path?: string): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (path) {
    if (!existsSync(path)) throw new Error(`--kubeconfig ${path}: no such file`);
    kc.loadFromFile(path);
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster())
    throw new Error('kubeconfig has no current cluster: pass --kubeconfig or set KUBECONFIG');
  return kc;
}

/** The lease's namespace: the flag, else our pod's namespace, else --namespace, else `default`. */
function leaseNamespace(flags: ControllerFlags): string {
  if (flags.leaderElectionNamespace) return flags.leaderElectionNamespace;
  if (existsSync(serviceAccountNamespace)) return readFileSync(serviceAccountNamespace, 'utf8').trim();
  return flags.namespace ?? 'default';
}

/** Runs the controller until a signal; resolves with the process exit code. */
export async function runController(flags: ControllerFlags): Promise<number> {
  const [{ createLogger }, { Manager }, { reconcilers }] = await Promise.all([
    import('../runtime/logging.js'),
    import('../runtime/manager.js'),
    import('../controllers/index.js'),
  ]);
  const log = createLogger({ level: flags.logLevel, defaultMeta: { component: 'csbs-controller' } });
  const manager = new Manager({
    kubeConfig: await loadKubeConfig(flags.kubeconfig),
    namespace: flags.namespace,
    concurrency: flags.concurrency,
    leaderElection: {
      enabled: flags.leaderElect,
      leaseName: flags.leaderElectionId,
      leaseNamespace: leaseNamespace(flags),
      leaseDurationMs: flags.leaseDuration,
      renewDeadlineMs: flags.renewDeadline,
      retryPeriodMs: flags.retryPeriod,
    },
    metricsBindAddress: flags.metricsBindAddress,
    healthProbeBindAddress: flags.healthProbeBindAddress,
    logger: log,
  });
  for (const r of reconcilers) manager.add(r);
  const signalled = new Promise<string>((resolve) => {
    const onSignal = (sig: string): void => {
      // A second signal means "now": skip the drain.
      process.once(sig as NodeJS.Signals, () => process.exit(1));
      resolve(sig);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  await manager.start();
  log.info('serving', {
    metrics: manager.metricsUrl() ?? 'disabled',
    health: manager.healthUrl() ?? 'disabled',
  });
  const sig = await signalled;
  log.info('shutting down', { signal: sig });
  await manager.stop();
  return 0;
}

/** Registers `csbs controller`. */
export function registerController(program: Command): void {
  program
    .command('controller')
    .description('run the csbs operator: watch csbs.dev resources and reconcile them')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--namespace <ns>', 'watch only this namespace (default: all namespaces)')
    .option(
      '--leader-elect [enabled]',
      'elect a leader through a Lease so only one replica acts',
      parseBool,
      true,
    )
    .option('--leader-election-id <name>', 'name of the leader election Lease', 'csbs-controller-leader')
    .option(
      '--leader-election-namespace <ns>',
      "namespace of the Lease (default: the pod's, else --namespace, else default)",
    )
    .option('--lease-duration <duration>', 'how long a lease is valid without renewal', parseDuration, 15_000)
    .option(
      '--renew-deadline <duration>',
      'the leader steps down if it cannot renew within this',
      parseDuration,
      10_000,
    )
    .option('--retry-period <duration>', 'interval between acquire/renew attempts', parseDuration, 2_000)
    .option(
      '--metrics-bind-address <addr>',
      'serve /metrics here (host:port, :port, 0 = off)',
      parseAddress,
      ':8080',
    )
    .option(
      '--health-probe-bind-address <addr>',
      'serve /healthz and /readyz here (0 = off)',
      parseAddress,
      ':8081',
    )
    .option('--log-level <level>', `one of ${logLevels.join(', ')}`, parseLevel, 'info')
    .option('--concurrency <n>', 'parallel reconciles per controller', parsePositiveInt, 2)
    .action(async (flags: ControllerFlags) => {
      process.exitCode = await runController(flags);
    });
}
