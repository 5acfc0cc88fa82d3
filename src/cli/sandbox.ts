/** `csbs sandbox start`: runs the sandbox cluster in the foreground until SIGINT/SIGTERM. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { startSandbox } from '../sandbox/index.js';

/** Default state directory: `$XDG_STATE_HOME/csbs/sandbox` (or `~/.local/state/csbs/sandbox`). */
export function defaultSandboxStateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'csbs', 'sandbox');
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new Error(`--port must be a number from 0 to 65535, got "${value}"`);
  return n;
}

/** Registers `csbs sandbox start`. */
export function registerSandbox(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a local Kubernetes API emulator with a simulated cluster');
  sandbox
    .command('start')
    .description(
      'serve the sandbox API on 127.0.0.1 with the CRDs installed; prints `export KUBECONFIG=<path>` once serving and runs until SIGINT/SIGTERM, keeping its state for the next start',
    )
    .option(
      '--state-dir <dir>',
      'where objects, volumes and the kubeconfig are kept',
      defaultSandboxStateDir(),
    )
    .option('--port <n>', 'port on 127.0.0.1 (0 picks a free one)', parsePort, 0)
    .action(async (opts: { stateDir: string; port: number }) => {
      const sb = await startSandbox({ stateDir: opts.stateDir, port: opts.port });
      process.stdout.write(`export KUBECONFIG=${sb.kubeconfigPath}\n`);
      process.stderr.write(`csbs sandbox serving ${sb.url} (state in ${sb.stateDir}); stop with Ctrl-C\n`);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      process.stderr.write(`csbs sandbox: ${signal}, shutting down\n`);
      await sb.stop();
    });
}
