/** `csbs demo`: the README's first command (see `src/demo/scenario.ts` for what it shows). */
import type { Command } from 'commander';

/** Options of `csbs demo`. */
interface DemoCliOptions {
  keep?: boolean;
  stateDir?: string;
}

/** Registers `csbs demo [--keep] [--state-dir DIR]`. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'back up a KubeVirt VM (full, then incremental) and restore it, end to end on the embedded sandbox cluster',
    )
    .option(
      '--keep',
      'leave the sandbox and the controller running afterwards and print the KUBECONFIG to use',
    )
    .option('--state-dir <dir>', 'keep the sandbox state in this directory (default: a temporary one)')
    .action(async (opts: DemoCliOptions) => {
      // Loaded on use: `csbs mover` in every Job must not pay for the sandbox and the controllers.
      const { runDemo } = await import('../demo/scenario.js');
      const { Reporter } = await import('../demo/report.js');
      // Ctrl-C during a step ends it and still cleans up (pod processes, the temporary state dir).
      const interrupted = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => interrupted.abort(sig);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const untilStopped = (): Promise<void> =>
        new Promise((resolve) => {
          if (interrupted.signal.aborted) resolve();
          else interrupted.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      let code = 0;
      try {
        await runDemo({
          keep: opts.keep,
          stateDir: opts.stateDir,
          reporter: new Reporter(process.stdout, interrupted.signal),
          untilStopped,
        });
      } catch (err) {
        process.stderr.write(`demo failed: ${(err as Error).message}\n`);
        code = 1;
      }
      // Idle keep-alive sockets of the API clients must not hold the process open.
      process.exit(code);
    });
}
