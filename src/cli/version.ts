/** `csbs version`: prints the binary's version and runtime. */
import type { Command } from 'commander';
import { version } from '../version.js';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the csbs version')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((opts: { output: string }) => {
      const info = { version, node: process.version, platform: `${process.platform}/${process.arch}` };
      if (opts.output === 'json') console.log(JSON.stringify(info));
      else console.log(`csbs ${info.version} (node ${info.node}, ${info.platform})`);
    });
}
