/** Build identity of this csbs binary, read from package.json so there is one source of truth. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Root of the installed package (dist/src/version.js -> ../..). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface PackageJson {
  name: string;
  version: string;
}

const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as PackageJson;

/** Semantic version of csbs-operator. */
export const version: string = pkg.version;
