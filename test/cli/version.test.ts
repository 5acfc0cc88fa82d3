import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot, version } from '../../src/version.js';

const csbs = join(packageRoot, 'dist', 'src', 'main.js');

describe('csbs version', () => {
  it('prints the package version as JSON', () => {
    const out = execFileSync(process.execPath, [csbs, 'version', '-o', 'json'], { encoding: 'utf8' });
    const info = JSON.parse(out) as { version: string; node: string };
    expect(info.version)
      .to.equal(version)
      .and.to.match(/^\d+\.\d+\.\d+/);
    expect(info.node).to.equal(process.version);
  });
});
