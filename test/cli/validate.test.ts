import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';

const csbs = join(packageRoot, 'dist', 'src', 'main.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [csbs, ...args], { encoding: 'utf8', cwd: packageRoot });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const policy = (name: string, retention: string) => `apiVersion: csbs.dev/v1alpha1
kind: BackupPolicy
metadata:
  name: ${name}
spec:
  repositoryRef: { name: default }
  schedule: { cron: ["0 2 * * *"] }
  retention: ${retention}
`;

interface JsonOutput {
  results: Array<{
    file: string;
    document: number;
    kind: string;
    name: string;
    valid: boolean;
    skipped?: boolean;
    note?: string;
    errors: Array<{ type: string; field: string; message: string }>;
  }>;
  summary: { objects: number; valid: number; invalid: number; skipped: number };
}

describe('csbs validate (as a process)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'csbs-validate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 on the samples directory and says each object is valid', () => {
    const r = run('validate', 'config/samples');
    expect(r.code).to.equal(0);
    expect(r.out).to.include(
      'config/samples/csbs_v1alpha1_backuppolicy.yaml#1 BackupPolicy/twice-daily: valid',
    );
    expect(r.out).to.match(/^9 objects: 9 valid, 0 invalid, 0 skipped$/m);
  });

  it('exits 1 and prints file, document, kind/name and the field error for each invalid object', () => {
    const file = join(dir, 'policies.yaml');
    writeFileSync(
      file,
      [
        policy('good', '{ maxCount: 7 }'),
        policy('zero', '{ maxCount: 0 }'),
        policy('both', '{ maxCount: 1, maxAgeDays: 2 }'),
      ].join('---\n'),
    );
    const r = run('validate', file);
    expect(r.code).to.equal(1);
    expect(r.out).to.include(`${file}#1 BackupPolicy/good: valid`);
    expect(r.out).to.include(
      `${file}#2 BackupPolicy/zero: spec.retention.maxCount: Invalid value: 0: spec.retention.maxCount in body should be greater than or equal to 1`,
    );
    expect(r.out).to.include(
      `${file}#3 BackupPolicy/both: spec.retention: Invalid value: set at most one of maxCount or maxAgeDays`,
    );
    expect(r.out).to.match(/^3 objects: 1 valid, 2 invalid, 0 skipped$/m);
    const quiet = run('validate', '--quiet', file);
    expect(quiet.out).to.not.include('valid\n');
  });

  it('skips objects of other API groups with a note, walks directories and reads JSON and kind: List', () => {
    mkdirSync(join(dir, 'nested'));
    writeFileSync(
      join(dir, 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\n---\n',
    );
    writeFileSync(
      join(dir, 'nested', 'list.json'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'csbs.dev/v1alpha1',
            kind: 'Restore',
            metadata: { name: 'r' },
            spec: { backupRef: { name: 'b' } },
          },
        ],
      }),
    );
    writeFileSync(join(dir, 'README.md'), 'not a manifest');
    const r = run('validate', '-o', 'json', dir);
    expect(r.code).to.equal(0);
    const out = JSON.parse(r.out) as JsonOutput;
    expect(out.summary).to.deep.equal({ objects: 2, valid: 1, invalid: 0, skipped: 1 });
    expect(out.results[0]).to.include({ kind: 'ConfigMap', skipped: true, valid: true });
    expect(out.results[0]!.note).to.match(/not a csbs\.dev object/);
    expect(out.results[1]).to.include({
      file: join(dir, 'nested', 'list.json'),
      kind: 'Restore',
      name: 'r',
      valid: true,
    });
  });

  it('prints JSON with typed field errors', () => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, policy('zero', '{ maxCount: 0 }'));
    const r = run('validate', '--output', 'json', file);
    expect(r.code).to.equal(1);
    const out = JSON.parse(r.out) as JsonOutput;
    expect(out.results[0]!.errors).to.deep.equal([
      {
        type: 'Invalid',
        field: 'spec.retention.maxCount',
        value: 0,
        detail: 'spec.retention.maxCount in body should be greater than or equal to 1',
        message:
          'spec.retention.maxCount: Invalid value: 0: spec.retention.maxCount in body should be greater than or equal to 1',
      },
    ]);
  });

  it('checks an update against --old (immutable fields)', () => {
    const repo = (blockSize: string) =>
      `apiVersion: csbs.dev/v1alpha1\nkind: BackupRepository\nmetadata: { name: r }\nspec:\n  backend: { filesystem: { persistentVolumeClaim: { claimName: p } } }\n  encryption: { keySecretRef: { name: k } }\n${blockSize}`;
    writeFileSync(join(dir, 'old.yaml'), repo(''));
    writeFileSync(join(dir, 'new.yaml'), repo('  blockSize: 4096\n'));
    expect(run('validate', join(dir, 'new.yaml')).code).to.equal(0);
    const r = run('validate', join(dir, 'new.yaml'), '--old', join(dir, 'old.yaml'));
    expect(r.code).to.equal(1);
    expect(r.out).to.include('spec.blockSize: Invalid value: 4096: blockSize is immutable');
  });

  it('reports unknown csbs kinds, wrong versions, unparsable YAML and missing files', () => {
    writeFileSync(
      join(dir, 'a.yaml'),
      'apiVersion: csbs.dev/v1alpha1\nkind: Schedule\nmetadata: { name: x }\n---\napiVersion: csbs.dev/v1\nkind: Backup\nmetadata: { name: y }\n',
    );
    writeFileSync(join(dir, 'b.yaml'), 'kind: [unclosed\n');
    const r = run('validate', join(dir, 'a.yaml'), join(dir, 'b.yaml'));
    expect(r.code).to.equal(1);
    expect(r.out).to.include(
      '#1 Schedule/x: kind: Unsupported value: "Schedule": supported values: "BackupRepository"',
    );
    expect(r.out).to.include(
      '#2 Backup/y: apiVersion: Unsupported value: "csbs.dev/v1": supported values: "csbs.dev/v1alpha1"',
    );
    expect(r.out).to.match(
      /b\.yaml#1 <no kind>\/<no name>: <nil>: Invalid value: "document": cannot parse YAML/,
    );
    const missing = run('validate', join(dir, 'nope.yaml'));
    expect(missing.code).to.equal(1);
    expect(missing.err).to.match(/csbs validate: .*nope\.yaml/);
  });
});

describe('csbs crds (as a process)', () => {
  it('prints the six CRDs as one YAML stream', () => {
    const r = run('crds');
    expect(r.code).to.equal(0);
    expect(r.out.match(/^kind: CustomResourceDefinition$/gm)).to.have.length(6);
    expect(r.out).to.include('name: backuppolicies.csbs.dev');
  });
});
