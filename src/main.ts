#!/usr/bin/env node
/** The single `csbs` executable: every subcommand registers itself here. */
import { Command } from 'commander';
import { registerController } from './cli/controller.js';
import { registerDemo } from './cli/demo.js';
import { registerMover } from './cli/mover.js';
import { registerSandbox } from './cli/sandbox.js';
import { registerVersion } from './cli/version.js';
import { version } from './version.js';

const program = new Command('csbs')
  .description('Cloud Server Backup Service for Kubernetes')
  .version(version)
  .showHelpAfterError();

registerVersion(program);
registerController(program);
registerDemo(program);
registerMover(program);
registerSandbox(program);

await program.parseAsync(process.argv);
