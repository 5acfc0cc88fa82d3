import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kinds } from '../../src/runtime/kinds.js';
import { packageRoot } from '../../src/version.js';
import { eventually, namespace, useSandbox } from '../runtime/helpers.js';

const csbs = join(packageRoot, 'dist', 'src', 'main.js');

describe('csbs controller', function () {
  this.timeout(20_000);
  const { sb, client } = useSandbox();

  it('serves probes and metrics, holds the lease, logs JSON, and on SIGTERM drains and releases the lease', async () => {
    const ns = await namespace(client(), 'cli');
    const child = spawn(
      process.execPath,
      [
        csbs,
        'controller',
        '--kubeconfig',
        sb().kubeconfigPath,
        '--leader-election-namespace',
        ns,
        '--leader-election-id',
        'csbs-cli',
        '--lease-duration',
        '1s',
        '--renew-deadline',
        '600ms',
        '--retry-period',
        '100ms',
        '--metrics-bind-address',
        '127.0.0.1:0',
        '--health-probe-bind-address',
        '127.0.0.1:0',
        '--log-level',
        'debug',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface(child.stdout).on('line', (line) =>
      lines.push(JSON.parse(line) as Record<string, unknown>),
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const serving = await eventually(
        () => lines.find((l) => l.msg === 'serving'),
        10_000,
        `serving line (stderr: ${stderr})`,
      );
      const health = serving.health as string;
      const metricsUrl = serving.metrics as string;
      expect(lines[0]).to.include.keys('level', 'time', 'msg');
      await eventually(async () => (await fetch(`${health}/readyz`)).status === 200, 10_000, 'ready');
      const lease = await eventually(() => client().tryGet(Kinds.Lease, ns, 'csbs-cli'), 5000, 'lease');
      expect(lease.spec?.holderIdentity).to.be.a('string').and.not.equal('');
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      expect(metrics).to.match(/csbs_leader 1/);
      child.kill('SIGTERM');
      expect(await exited).to.equal(0, stderr);
      expect(lines.map((l) => l.msg)).to.include.members(['shutting down', 'manager stopped']);
      expect((await client().get(Kinds.Lease, ns, 'csbs-cli')).spec?.holderIdentity).to.equal(
        '',
        'lease released',
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects bad flags with a message naming the flag', () => {
    const res = spawnSync(process.execPath, [csbs, 'controller', '--concurrency', '0'], { encoding: 'utf8' });
    expect(res.status).to.not.equal(0);
    expect(res.stderr)
      .to.match(/--concurrency/)
      .and.match(/positive integer/);
    const addr = spawnSync(process.execPath, [csbs, 'controller', '--metrics-bind-address', '8080'], {
      encoding: 'utf8',
    });
    expect(addr.stderr)
      .to.match(/--metrics-bind-address/)
      .and.match(/host:port/);
  });
});
