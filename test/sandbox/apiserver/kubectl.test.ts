/**
 * The real kubectl (Debian's 1.20 in CI) against the sandbox: apply, get (server-side Table printing,
 * categories), -o yaml, explain (protobuf /openapi/v2), client-side validation, wait, delete and the
 * server's 422 for an invalid object. Skipped, saying so, when no kubectl is installed.
 */
import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { packageRoot } from '../../../src/version.js';
import { FIXTURES, MERGE, sandbox } from './helpers.js';

/** kubectl to use: `$KUBECTL`, else the one on PATH. */
const KUBECTL = process.env.KUBECTL || 'kubectl';

function kubectlVersion(): string | undefined {
  try {
    const out = execFileSync(KUBECTL, ['version', '--client', '-o', 'json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return (JSON.parse(out) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
  } catch {
    return undefined;
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const version = kubectlVersion();
const projectCrds = join(packageRoot, 'crds');
const samples = join(packageRoot, 'config', 'samples');
const hasProjectCrds = existsSync(projectCrds) && readdirSync(projectCrds).some((f) => /\.ya?ml$/.test(f));

describe(`sandbox apiserver: kubectl ${version ?? '(not installed)'}`, function () {
  let sb: Sandbox;
  let dir: string;

  before(async function () {
    if (!version) {
      console.log(
        `      kubectl not found (${KUBECTL}): skipping the kubectl tests; CI installs Debian's kubernetes-client`,
      );
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'csbs-kubectl-'));
    sb = await sandbox({ installCrds: false });
  });
  after(async () => {
    await sb?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Runs kubectl against the sandbox with a private discovery cache. */
  function kubectl(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        KUBECTL,
        ['--kubeconfig', sb.kubeconfigPath, '--cache-dir', join(dir, 'cache'), ...args],
        { encoding: 'utf8', timeout: 20_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  async function ok(...args: string[]): Promise<string> {
    const r = await kubectl(...args);
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  }

  async function file(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  describe('with fixture CRDs', () => {
    it('applies CRDs and objects, and re-applies as unchanged / configured', async () => {
      expect(await ok('apply', '-f', join(packageRoot, 'src', 'sandbox', 'crds'))).to.contain(
        'customresourcedefinition.apiextensions.k8s.io/volumesnapshots.snapshot.storage.k8s.io created',
      );
      expect(await ok('apply', '-f', FIXTURES)).to.contain(
        'customresourcedefinition.apiextensions.k8s.io/widgets.test.csbs.dev created',
      );
      const w = await file(
        'w1.yaml',
        'apiVersion: test.csbs.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 4\n  color: red\n',
      );
      expect(await ok('apply', '-f', w)).to.contain('widget.test.csbs.dev/w1 created');
      expect(await ok('apply', '-f', w)).to.contain('widget.test.csbs.dev/w1 unchanged');
      await file(
        'w1.yaml',
        'apiVersion: test.csbs.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 5\n',
      );
      expect(await ok('apply', '-f', w)).to.contain('widget.test.csbs.dev/w1 configured');
      const obj = JSON.parse(await ok('get', 'widget', 'w1', '-o', 'json')) as {
        spec: Record<string, unknown>;
      };
      expect(obj.spec).to.deep.equal({ size: 5 }, 'kubectl apply removed the color it no longer declares');
    });

    it('prints printer columns and lists by category and short name', async () => {
      const table = await ok('get', 'wd');
      expect(table.split('\n')[0].split(/\s+/)).to.deep.equal(['NAME', 'SIZE', 'PHASE', 'AGE']);
      expect(table).to.match(/\nw1\s+5\s+\d+s/);
      expect(await ok('get', 'csbs-test')).to.match(/w1\s+5/);
      const yaml = await ok('get', 'widgets', '-o', 'yaml');
      expect(yaml).to.contain('kind: List').and.to.contain('name: w1').and.to.contain('size: 5');
    });

    it('explains fields from /openapi/v2', async () => {
      const out = await ok('explain', 'widget.spec');
      expect(out).to.contain('RESOURCE: spec <Object>');
      expect(out).to.match(/size\s+<integer>\s+How big\./);
    });

    it('validates on the client (unknown field) and reports the server 422 with the field message', async () => {
      const unknown = await kubectl(
        'apply',
        '-f',
        await file(
          'unk.yaml',
          'apiVersion: test.csbs.dev/v1\nkind: Widget\nmetadata:\n  name: unk\nspec:\n  sise: 2\n',
        ),
      );
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.contain('unknown field "sise"');
      const bad = await kubectl(
        'apply',
        '-f',
        await file(
          'bad.yaml',
          'apiVersion: test.csbs.dev/v1\nkind: Widget\nmetadata:\n  name: bad\nspec:\n  size: 0\n',
        ),
      );
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.contain(
        'spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1',
      );
    });

    it('waits for a condition and for deletion', async () => {
      const custom = sb.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
      const waiting = kubectl('wait', '--for=condition=Ready', 'widget/w1', '--timeout=15s');
      await new Promise((r) => setTimeout(r, 300));
      await custom.patchNamespacedCustomObjectStatus(
        {
          group: 'test.csbs.dev',
          version: 'v1',
          namespace: 'default',
          plural: 'widgets',
          name: 'w1',
          body: { status: { phase: 'Up', conditions: [{ type: 'Ready', status: 'True' }] } },
        },
        MERGE,
      );
      const r = await waiting;
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('widget.test.csbs.dev/w1 condition met');
      expect(await ok('delete', 'widget', 'w1')).to.contain('widget.test.csbs.dev "w1" deleted');
      const after = await kubectl('get', 'widget', 'w1');
      expect(after.code).to.equal(1);
      expect(after.stderr).to.contain('widgets.test.csbs.dev "w1" not found');
    });

    it('applies built-ins with strategic merge patches', async () => {
      const cm = await file(
        'cm.yaml',
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  labels: {a: "1"}\ndata:\n  k: v\n',
      );
      expect(await ok('apply', '-f', cm)).to.contain('configmap/c1 created');
      await file(
        'cm.yaml',
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  labels: {b: "2"}\ndata:\n  k: w\n',
      );
      expect(await ok('apply', '-f', cm)).to.contain('configmap/c1 configured');
      const got = JSON.parse(await ok('get', 'cm', 'c1', '-o', 'json')) as k8s.V1ConfigMap;
      expect(got.metadata?.labels).to.deep.equal({ b: '2' });
      expect(got.data).to.deep.equal({ k: 'w' });
    });
  });

  (hasProjectCrds ? describe : describe.skip)('with the project CRDs and samples', () => {
    it('applies crds/ and config/samples/, lists them with kubectl get csbs', async () => {
      expect(await ok('apply', '-f', projectCrds)).to.contain('backuppolicies.csbs.dev created');
      await ok('apply', '-f', samples);
      const all = await ok('get', 'csbs');
      expect(all).to.match(/backuppolicy\.csbs\.dev\//);
    });

    it('rejects an invalid sample with exit code 1 and the field message', async () => {
      const bad = join(packageRoot, 'test', 'fixtures', 'invalid', 'policy-retention-zero.yaml');
      const r = await kubectl('apply', '-f', bad);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain(
        'spec.retention.maxCount: Invalid value: 0: spec.retention.maxCount in body should be greater than or equal to 1',
      );
    });

    it('prints backuppolicies as YAML and explains backuppolicy.spec.retention', async () => {
      expect(await ok('get', 'backuppolicies', '-o', 'yaml')).to.contain('kind: BackupPolicy');
      const out = await ok('explain', 'backuppolicy.spec.retention');
      expect(out).to.contain('RESOURCE: retention <Object>');
      expect(out).to.match(/maxCount\s+<integer>/);
    });

    it('deletes the samples and waits for them to be gone', async () => {
      expect(await ok('delete', '-f', samples, '--wait=true')).to.match(/deleted/);
      expect((await ok('get', 'csbs', '-o', 'name')).trim()).to.equal('');
    });
  });
});
