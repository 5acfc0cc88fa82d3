/**
 * The hand-written types of src/api/types.ts must equal the types the CRD schemas admit. The checks
 * below are compile-time: `npm run build` fails when a field, its optionality or its type drifts.
 */
import { expect } from 'chai';
import type {
  BackupPolicySpec,
  BackupPolicyStatus,
  BackupRepositorySpec,
  BackupRepositoryStatus,
  BackupSpec,
  BackupStatus,
  Infer,
  OneOffBackupSpec,
  OneOffBackupStatus,
  RestoreSpec,
  RestoreStatus,
  ServerBindingSpec,
  ServerBindingStatus,
} from '../../src/api/index.js';
import {
  backupPolicySpec,
  backupPolicyStatus,
  backupRepositorySpec,
  backupRepositoryStatus,
  backupSpec,
  backupStatus,
  oneOffBackupSpec,
  oneOffBackupStatus,
  restoreSpec,
  restoreStatus,
  serverBindingSpec,
  serverBindingStatus,
} from '../../src/api/index.js';

/** Deep structural equality of two types, made of mutual assignability at every level. */
type DeepEqual<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
type SameKeys<A, B> = A extends readonly (infer X)[]
  ? B extends readonly (infer Y)[]
    ? DeepEqual<X, Y>
    : false
  : A extends object
    ? B extends object
      ? [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never]
        ? [OptionalKeys<A>] extends [OptionalKeys<B>]
          ? [OptionalKeys<B>] extends [OptionalKeys<A>]
            ? { [K in keyof A & keyof B]-?: DeepEqual<NonNullable<A[K]>, NonNullable<B[K]>> }[keyof A &
                keyof B] extends true
              ? true
              : false
            : false
          : false
        : false
      : false
    : true;
type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];

/** Compiles only when T is exactly `true`. */
function assertTrue<T extends true>(ok: T): T {
  return ok;
}

const checks = [
  assertTrue<DeepEqual<Infer<typeof backupRepositorySpec>, BackupRepositorySpec>>(true),
  assertTrue<DeepEqual<Infer<typeof backupRepositoryStatus>, BackupRepositoryStatus>>(true),
  assertTrue<DeepEqual<Infer<typeof backupPolicySpec>, BackupPolicySpec>>(true),
  assertTrue<DeepEqual<Infer<typeof backupPolicyStatus>, BackupPolicyStatus>>(true),
  assertTrue<DeepEqual<Infer<typeof serverBindingSpec>, ServerBindingSpec>>(true),
  assertTrue<DeepEqual<Infer<typeof serverBindingStatus>, ServerBindingStatus>>(true),
  assertTrue<DeepEqual<Infer<typeof oneOffBackupSpec>, OneOffBackupSpec>>(true),
  assertTrue<DeepEqual<Infer<typeof oneOffBackupStatus>, OneOffBackupStatus>>(true),
  assertTrue<DeepEqual<Infer<typeof backupSpec>, BackupSpec>>(true),
  assertTrue<DeepEqual<Infer<typeof backupStatus>, BackupStatus>>(true),
  assertTrue<DeepEqual<Infer<typeof restoreSpec>, RestoreSpec>>(true),
  assertTrue<DeepEqual<Infer<typeof restoreStatus>, RestoreStatus>>(true),
];

// A self-test of the checker, so it cannot silently accept everything.
type _Drift = [
  DeepEqual<{ a?: string }, { a: string }>,
  DeepEqual<{ a: string; b?: number }, { a: string }>,
  DeepEqual<{ a: { b: 'x' | 'y' } }, { a: { b: 'x' } }>,
  DeepEqual<{ a: { b?: number }[] }, { a: { b: number }[] }>,
];
const driftDetected: _Drift = [false, false, false, false];

describe('api: types agree with the CRD schemas', () => {
  it('holds at compile time for every spec and status (and the checker detects drift)', () => {
    expect(checks).to.have.length(12);
    expect(driftDetected).to.deep.equal([false, false, false, false]);
  });
});
