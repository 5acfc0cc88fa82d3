/** `csbs sandbox start`: one export line on stdout once serving, clean shutdown, state kept. */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { packageRoot } from '../../../src/version.js';

const csbs = join(packageRoot, 'dist', 'src', 'main.js');

/** Starts `csbs sandbox start` and resolves with its first stdout line. */
function start(stateDir: string): Promise<{ child: ChildProcess; line: string; stdout: () => string }> {
  const child = spawn(process.execPath, [csbs, 'sandbox', 'start', '--state-dir', stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve({ child, line: out.slice(0, nl), stdout: () => out });
    });
    child.on('exit', (code) => reject(new Error(`csbs sandbox start exited with ${code} before serving`)));
  });
}

function stopped(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('csbs sandbox start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csbs-cli-sandbox-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints export KUBECONFIG, serves, stops on SIGTERM and keeps its state for the next start', async () => {
    const first = await start(dir);
    expect(first.line).to.equal(`export KUBECONFIG=${join(dir, 'kubeconfig')}`);
    const kc = new k8s.KubeConfig();
    kc.loadFromString(await readFile(join(dir, 'kubeconfig'), 'utf8'));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'kept' }, data: { a: '1' } },
    });
    const crds = await kc.makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition();
    expect(crds.items.map((c) => c.metadata?.name)).to.include.members([
      'volumesnapshots.snapshot.storage.k8s.io',
      'virtualmachines.kubevirt.io',
    ]);
    const exit = stopped(first.child);
    first.child.kill('SIGTERM');
    expect(await exit).to.equal(0);
    expect(first.stdout().trim().split('\n')).to.have.length(1, 'exactly one line on stdout');

    const second = await start(dir);
    try {
      const kc2 = new k8s.KubeConfig();
      kc2.loadFromString(await readFile(join(dir, 'kubeconfig'), 'utf8'));
      const cm = await kc2
        .makeApiClient(k8s.CoreV1Api)
        .readNamespacedConfigMap({ name: 'kept', namespace: 'default' });
      expect(cm.data).to.deep.equal({ a: '1' });
    } finally {
      const exit2 = stopped(second.child);
      second.child.kill('SIGINT');
      expect(await exit2).to.equal(0);
    }
  });
});
