/**
 * Every file in test/fixtures/invalid/ must be rejected with each message its `# expect:` lines give
 * (the field path first). `<name>.old.yaml` beside a fixture is the stored version: the fixture is then
 * checked as an update (immutable fields).
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validatePaths } from '../../src/cli/validate.js';
import { packageRoot } from '../../src/version.js';

const dir = join(packageRoot, 'test', 'fixtures', 'invalid');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.endsWith('.old.yaml'));

function expectations(file: string): string[] {
  return readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('# expect: '))
    .map((l) => l.slice('# expect: '.length));
}

describe('invalid examples', () => {
  it('cover every case issue 2 lists', () => {
    for (const f of [
      'policy-bad-cron.yaml',
      'policy-unknown-timezone.yaml',
      'policy-retention-zero.yaml',
      'policy-retention-both.yaml',
      'repository-both-backends.yaml',
      'repository-no-backend.yaml',
      'oneoff-description-too-long.yaml',
      'repository-immutable-blocksize.yaml',
      'oneoff-immutable.yaml',
      'oneoff-backupname-prefix.yaml',
      'oneoff-bad-name.yaml',
    ]) {
      expect(fixtures, f).to.include(f);
    }
  });

  for (const f of fixtures) {
    it(`${f} is rejected naming the field`, () => {
      const want = expectations(f);
      expect(want, 'fixture has # expect: lines').to.not.be.empty;
      const old = join(dir, f.replace(/\.yaml$/, '.old.yaml'));
      const results = validatePaths([join(dir, f)], existsSync(old) ? [old] : []);
      expect(results).to.have.length(1);
      const r = results[0]!;
      expect(r.valid).to.equal(false);
      const got = r.errors.map((e) => e.message);
      for (const w of want) {
        expect(w).to.match(/^(spec|metadata)[.:[]/, 'an expectation starts with the field path');
        expect(
          got.some((g) => g.includes(w)),
          `expected "${w}" among:\n${got.join('\n')}`,
        ).to.equal(true);
      }
      if (existsSync(old)) {
        // Without the stored version the same object is a valid create: the failure is the update.
        expect(validatePaths([join(dir, f)])[0]!.valid).to.equal(true);
      }
    });
  }
});
