/**
 * `csbs crds`: prints the CustomResourceDefinitions (for `csbs crds | kubectl apply -f -`), or writes
 * them into a directory with `--write crds/` (how the committed `crds/*.yaml` are produced).
 */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KINDS, crdFileName, customResourceDefinition, type Kind } from '../api/index.js';

const HEADER = '# Generated from src/api/schemas.ts by `csbs crds --write crds/`: do not edit by hand.\n';

/** The YAML text of one kind's CRD, exactly as committed in `crds/`. */
export function crdYaml(kind: Kind): string {
  return HEADER + stringify(customResourceDefinition(kind), { lineWidth: 0 });
}

export function registerCrds(program: Command): void {
  program
    .command('crds')
    .description('print the csbs.dev CustomResourceDefinitions as YAML, or write them into a directory')
    .option('--write <dir>', 'write one file per CRD into DIR instead of printing')
    .action((opts: { write?: string }) => {
      if (opts.write) {
        mkdirSync(opts.write, { recursive: true });
        for (const kind of KINDS) {
          const file = join(opts.write, crdFileName(kind));
          writeFileSync(file, crdYaml(kind));
          console.log(`wrote ${file}`);
        }
      } else {
        process.stdout.write(KINDS.map(crdYaml).join('---\n'));
      }
    });
}
