#!/usr/bin/env node
/**
 * The single `csbs` executable: every subcommand registers itself here. Only the subcommand being
 * run is loaded (all of them for help or an unknown name), so a `csbs mover` Job does not carry the
 * sandbox's or the controller's modules in memory.
 */
import { Command } from 'commander';
import { version } from './version.js';

type Register = (program: Command) => void;
const subcommands: Record<string, () => Promise<Register>> = {
  version: async () => (await import('./cli/version.js')).registerVersion,
  controller: async () => (await import('./cli/controller.js')).registerController,
  demo: async () => (await import('./cli/demo.js')).registerDemo,
  mover: async () => (await import('./cli/mover.js')).registerMover,
  sandbox: async () => (await import('./cli/sandbox.js')).registerSandbox,
  crds: async () => (await import('./cli/crds.js')).registerCrds,
  validate: async () => (await import('./cli/validate.js')).registerValidate,
};

const program = new Command('csbs')
  .description('Cloud Server Backup Service for Kubernetes')
  .version(version)
  .showHelpAfterError();

const name = process.argv[2];
const chosen =
  name !== undefined && Object.hasOwn(subcommands, name) ? [subcommands[name]!] : Object.values(subcommands);
for (const load of chosen) (await load())(program);

await program.parseAsync(process.argv);
