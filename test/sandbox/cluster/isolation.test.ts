import { expect } from 'chai';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  detectIsolation,
  remapPath,
  startContainer,
  type ContainerLaunch,
  type IsolationMode,
} from '../../../src/sandbox/cluster/kubelet/isolation.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  setupError: string;
}

async function run(l: ContainerLaunch, mode?: IsolationMode): Promise<Run> {
  const started = await startContainer(l, mode);
  let stdout = '';
  let stderr = '';
  started.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  started.child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => started.child.on('close', (c) => resolve(c)));
  return { code, stdout, stderr, setupError: await started.setupError };
}

describe('sandbox kubelet: container isolation', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csbs-iso-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps container paths to volume paths in remap mode', () => {
    const mounts = [
      { hostPath: '/h/disk.img', containerPath: '/dev/xvda', kind: 'file' as const, readOnly: false },
      { hostPath: '/h/data', containerPath: '/data', kind: 'dir' as const, readOnly: false },
      { hostPath: '/h/sub', containerPath: '/data/sub', kind: 'dir' as const, readOnly: false },
    ];
    expect(remapPath('/dev/xvda', mounts)).to.equal('/h/disk.img');
    expect(remapPath('/data/x/y', mounts)).to.equal('/h/data/x/y');
    expect(remapPath('/data/sub/z', mounts)).to.equal('/h/sub/z');
    expect(remapPath('/database', mounts)).to.equal('/database');
  });

  const modes: IsolationMode[] = detectIsolation() === 'namespace' ? ['namespace', 'remap'] : ['remap'];
  for (const mode of modes) {
    it(`runs a command with env, working dir and volumes at the spec's paths (${mode})`, async () => {
      const disk = join(dir, 'disk.img');
      await writeFile(disk, Buffer.alloc(4096));
      await mkdir(join(dir, 'data'));
      await writeFile(join(dir, 'data', 'in.txt'), 'input');
      const term = join(dir, 'termination-log');
      await writeFile(term, '');
      await chmod(term, 0o666);
      const r = await run(
        {
          argv: [
            'sh',
            '-c',
            'printf DATA | dd of=/dev/xvda conv=notrunc 2>/dev/null; cat /data/in.txt; echo " $GREETING"; pwd; echo bye >&2; echo done > /dev/termination-log; exit 3',
          ],
          env: { GREETING: "it's me", PATH: '/usr/bin:/bin' },
          workingDir: mode === 'namespace' ? '/work/here' : '/data',
          mounts: [
            { hostPath: disk, containerPath: '/dev/xvda', kind: 'file', readOnly: false },
            { hostPath: join(dir, 'data'), containerPath: '/data', kind: 'dir', readOnly: true },
            { hostPath: term, containerPath: '/dev/termination-log', kind: 'file', readOnly: false },
          ],
          scratchDir: join(dir, 'scratch'),
        },
        mode,
      );
      expect(r.code).to.equal(3);
      expect(r.stdout).to.equal(
        `input it's me\n${mode === 'namespace' ? '/work/here' : join(dir, 'data')}\n`,
      );
      expect(r.stderr).to.equal('bye\n');
      expect(r.setupError).to.equal('');
      expect((await readFile(disk)).subarray(0, 4).toString()).to.equal('DATA');
      expect(await readFile(term, 'utf8')).to.equal('done\n');
    });
  }

  if (detectIsolation() === 'namespace') {
    it('keeps the host untouched: new paths, read-only volumes and a private /dev', async () => {
      await mkdir(join(dir, 'ro'));
      const marker = `/tmp/csbs-test-${process.pid}-${Date.now()}`;
      const r = await run({
        argv: [
          'sh',
          '-c',
          `mkdir -p ${marker}/x && echo ok; touch /ro/f 2>/dev/null || echo read-only; ls /dev | tr '\\n' ' '; echo; id -u`,
        ],
        env: { PATH: '/usr/bin:/bin' },
        mounts: [{ hostPath: join(dir, 'ro'), containerPath: '/ro', kind: 'dir', readOnly: true }],
        uid: 4242,
        gid: 4242,
        scratchDir: join(dir, 'scratch'),
      });
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^ok\nread-only\n/);
      expect(r.stdout).to.match(/\bnull\b.*\burandom\b/);
      expect(r.stdout).not.to.match(/\bvda\b|\bkvm\b/);
      expect(r.stdout.trim().split('\n').pop()).to.equal('4242');
      await stat(marker).then(
        () => expect.fail('the host got the container path'),
        () => undefined,
      );
    });

    it('reports setup failures separately from the command', async () => {
      const r = await run({
        argv: ['true'],
        env: {},
        mounts: [{ hostPath: join(dir, 'missing'), containerPath: '/data', kind: 'dir', readOnly: false }],
        scratchDir: join(dir, 'scratch'),
      });
      expect(r.code).to.not.equal(0);
      expect(r.setupError).to.match(/mount|missing/);
    });
  }
});
