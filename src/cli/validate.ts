/**
 * `csbs validate FILE...`: checks manifests against the csbs.dev CRD schemas offline, exactly as the API
 * server would admit them (pruning, defaults, OpenAPI validation, CEL rules), plus the semantic checks a
 * schema cannot express (cron meaning, IANA time zones). For CI pipelines before `kubectl apply`.
 */
import { Option, type Command } from 'commander';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, GROUP, KINDS, SCHEMAS, type Kind } from '../api/index.js';
import {
  admit,
  formatFieldError,
  semanticChecks,
  validateObjectMeta,
  type FieldError,
} from '../schema/index.js';

/** Verdict on one document of one file. */
export interface DocumentResult {
  file: string;
  /** 1-based index of the document in its file (items of a `kind: List` share their document's index). */
  document: number;
  kind?: string;
  name?: string;
  valid: boolean;
  /** True for objects we do not own (other API groups), which are not checked. */
  skipped?: boolean;
  note?: string;
  errors: Array<FieldError & { message: string }>;
}

interface Doc {
  file: string;
  document: number;
  value: unknown;
  parseError?: string;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Manifest files under the given paths (directories recursively, in name order). */
export function manifestFiles(paths: string[]): string[] {
  const out: string[] = [];
  const visit = (p: string, explicit: boolean) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) visit(join(p, e), false);
    } else if (explicit || MANIFEST_EXTENSIONS.has(extname(p))) {
      out.push(p);
    }
  };
  for (const p of paths) visit(p, true);
  return out;
}

/** Every document of a YAML (or JSON) file; `kind: List` is expanded into its items. */
export function readDocuments(file: string): Doc[] {
  const text = readFileSync(file, 'utf8');
  const docs: Doc[] = [];
  parseAllDocuments(text).forEach((d, i) => {
    const document = i + 1;
    if (d.errors.length) {
      docs.push({ file, document, value: undefined, parseError: d.errors.map((e) => e.message).join('; ') });
      return;
    }
    const value: unknown = d.toJS();
    if (value === null || value === undefined) return; // an empty document (e.g. after a trailing ---)
    if (isRecord(value) && value.kind === 'List' && Array.isArray(value.items)) {
      for (const item of value.items as unknown[]) docs.push({ file, document, value: item });
    } else {
      docs.push({ file, document, value });
    }
  });
  return docs;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function identity(v: Record<string, unknown>): { kind?: string; name?: string; namespace?: string } {
  const meta = isRecord(v.metadata) ? v.metadata : {};
  return {
    kind: typeof v.kind === 'string' ? v.kind : undefined,
    name:
      typeof meta.name === 'string'
        ? meta.name
        : typeof meta.generateName === 'string'
          ? `${meta.generateName}*`
          : undefined,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined,
  };
}

const keyOf = (v: Record<string, unknown>) => {
  const id = identity(v);
  return `${id.kind}/${id.namespace ?? ''}/${id.name}`;
};

/**
 * Validates one object. `old` is the stored version for update checks (immutable fields and other
 * transition rules); without it the object is checked as a create.
 */
export function validateObject(value: unknown, old?: unknown): Omit<DocumentResult, 'file' | 'document'> {
  if (!isRecord(value)) {
    return {
      valid: false,
      errors: [withMessage({ type: 'Invalid', field: '', value, detail: 'a manifest must be an object' })],
    };
  }
  const { kind, name } = identity(value);
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : '';
  if (!apiVersion.startsWith(`${GROUP}/`)) {
    return {
      kind,
      name,
      valid: true,
      skipped: true,
      note: `not a ${GROUP} object (apiVersion ${apiVersion || 'missing'}): not checked`,
      errors: [],
    };
  }
  const notSupported = (field: string, got: unknown, supported: string[]) => ({
    kind,
    name,
    valid: false,
    errors: [
      withMessage({
        type: 'NotSupported',
        field,
        value: got,
        detail: `supported values: ${supported.map((v) => JSON.stringify(v)).join(', ')}`,
      }),
    ],
  });
  if (apiVersion !== API_VERSION) return notSupported('apiVersion', apiVersion, [API_VERSION]);
  if (!KINDS.includes(kind as Kind)) return notSupported('kind', kind ?? null, [...KINDS]);
  const admitted = admit(SCHEMAS[kind as Kind], value, old);
  const errors = [...validateObjectMeta(value, true), ...admitted.errors];
  // Semantic checks only add what the schema did not already report for the same field.
  const reported = new Set(errors.map((e) => e.field));
  for (const e of semanticChecks(admitted.object)) if (!reported.has(e.field)) errors.push(e);
  return { kind, name, valid: errors.length === 0, errors: errors.map(withMessage) };
}

function withMessage(e: FieldError): FieldError & { message: string } {
  return { ...e, message: formatFieldError(e) };
}

/** Validates every object in `paths`; `oldPaths` hold the stored versions for update checks. */
export function validatePaths(paths: string[], oldPaths: string[] = []): DocumentResult[] {
  const olds = new Map<string, unknown>();
  for (const f of manifestFiles(oldPaths)) {
    for (const d of readDocuments(f)) if (isRecord(d.value)) olds.set(keyOf(d.value), asStored(d.value));
  }
  const results: DocumentResult[] = [];
  for (const file of manifestFiles(paths)) {
    for (const d of readDocuments(file)) {
      if (d.parseError !== undefined) {
        results.push({
          file,
          document: d.document,
          valid: false,
          errors: [
            withMessage({
              type: 'Invalid',
              field: '',
              value: 'document',
              detail: `cannot parse YAML: ${d.parseError}`,
            }),
          ],
        });
        continue;
      }
      const old = isRecord(d.value) ? olds.get(keyOf(d.value)) : undefined;
      results.push({ file, document: d.document, ...validateObject(d.value, old) });
    }
  }
  return results;
}

/** An old object as the server would have stored it: pruned and defaulted (what transition rules compare to). */
function asStored(v: Record<string, unknown>): unknown {
  const kind = v.kind as Kind;
  return v.apiVersion === API_VERSION && KINDS.includes(kind) ? admit(SCHEMAS[kind], v).object : v;
}

function describe(r: DocumentResult): string {
  return `${r.file}#${r.document} ${r.kind ?? '<no kind>'}/${r.name ?? '<no name>'}`;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'validate csbs.dev manifests (files or directories, YAML or JSON) against the CRD schemas, offline',
    )
    .argument('<paths...>', 'manifest files or directories')
    .option('--old <path...>', 'stored versions of the objects, to check an update (immutable fields)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-q, --quiet', 'print only invalid objects')
    .addHelpText(
      'after',
      '\nEach result names FILE#N (N = 1-based YAML document), KIND/NAME, then the field error as the API server words it.\nExit code: 0 when every object is valid, 1 otherwise.',
    )
    .action((paths: string[], opts: { old?: string[]; output: string; quiet?: boolean }) => {
      let results: DocumentResult[];
      try {
        results = validatePaths(paths, opts.old ?? []);
      } catch (e) {
        console.error(`csbs validate: ${e instanceof Error ? e.message : String(e)}`);
        process.exitCode = 1;
        return;
      }
      const invalid = results.filter((r) => !r.valid).length;
      const skipped = results.filter((r) => r.skipped).length;
      const summary = {
        objects: results.length,
        valid: results.length - invalid - skipped,
        invalid,
        skipped,
      };
      if (opts.output === 'json') {
        console.log(JSON.stringify({ results, summary }, null, 2));
      } else {
        for (const r of results) {
          if (r.skipped) {
            if (!opts.quiet) console.log(`${describe(r)}: skipped: ${r.note}`);
          } else if (r.valid) {
            if (!opts.quiet) console.log(`${describe(r)}: valid`);
          } else {
            for (const e of r.errors) console.log(`${describe(r)}: ${e.message}`);
          }
        }
        console.log(
          `${summary.objects} objects: ${summary.valid} valid, ${summary.invalid} invalid, ${summary.skipped} skipped`,
        );
      }
      process.exitCode = invalid > 0 ? 1 : 0;
    });
}
