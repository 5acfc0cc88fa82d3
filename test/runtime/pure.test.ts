import { expect } from 'chai';
import { matchesLabels } from '../../src/runtime/cache.js';
import { resourceOfPath, resourcePath } from '../../src/runtime/client.js';
import { deepEqual } from '../../src/runtime/equality.js';
import {
  ApiError,
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
  isTransient,
} from '../../src/runtime/errors.js';
import { hasFinalizer, isBeingDeleted } from '../../src/runtime/finalizers.js';
import { parseBindAddress } from '../../src/runtime/httpserver.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { controllerRef, keyString, mapByLabel, mapByOwner, parseKey } from '../../src/runtime/reconciler.js';
import { parseDuration } from '../../src/cli/controller.js';

describe('runtime: pure helpers', () => {
  it('builds REST paths for core, grouped, namespaced and subresources', () => {
    expect(resourcePath(Kinds.Pod, 'ns', 'p', 'log')).to.equal('/api/v1/namespaces/ns/pods/p/log');
    expect(resourcePath(Kinds.Job)).to.equal('/apis/batch/v1/jobs');
    expect(resourcePath(Kinds.Backup, 'ns', 'b', 'status')).to.equal(
      '/apis/csbs.dev/v1alpha1/namespaces/ns/backups/b/status',
    );
    expect(resourcePath(Kinds.Namespace, 'ignored', 'n')).to.equal('/api/v1/namespaces/n');
    expect(() => resourcePath(Kinds.Pod, 'ns', '')).to.throw(/empty object name/);
    expect(resourceOfPath('/apis/csbs.dev/v1alpha1/namespaces/ns/backups/b/status')).to.equal(
      'backups/status',
    );
    expect(resourceOfPath('/api/v1/pods')).to.equal('pods');
    expect(resourceOfPath('/api/v1/namespaces/x')).to.equal('namespaces');
    expect(resourceOfPath('/apis/batch/v1/namespaces/ns/jobs')).to.equal('jobs');
  });

  const errorCases: { code: number; reason?: string; is: (e: unknown) => boolean }[] = [
    { code: 404, reason: 'NotFound', is: isNotFound },
    { code: 409, reason: 'AlreadyExists', is: isAlreadyExists },
    { code: 409, reason: 'Conflict', is: isConflict },
    { code: 409, is: isConflict },
    { code: 422, reason: 'Invalid', is: isInvalid },
    { code: 410, reason: 'Expired', is: isGone },
    { code: 503, is: isTransient },
    { code: 0, is: isTransient },
  ];
  for (const c of errorCases) {
    it(`classifies ${c.code} ${c.reason ?? '(no reason)'}`, () => {
      const err = new ApiError({
        code: c.code,
        method: 'GET',
        path: '/p',
        status: c.reason ? { reason: c.reason, message: 'm' } : undefined,
      });
      expect(c.is(err)).to.equal(true);
      for (const other of [isNotFound, isAlreadyExists, isConflict, isInvalid, isGone].filter(
        (f) => f !== c.is,
      )) {
        if (c.is !== isTransient) expect(other(err)).to.equal(false, other.name);
      }
    });
  }

  it('ApiError exposes the message and field causes of the Status', () => {
    const err = new ApiError({
      code: 422,
      method: 'POST',
      path: '/apis/x',
      status: {
        reason: 'Invalid',
        message: 'spec.x: Required value',
        details: { causes: [{ field: 'spec.x', message: 'Required value' }] },
      },
    });
    expect(err.message).to.equal('POST /apis/x: spec.x: Required value');
    expect(err.causes[0].field).to.equal('spec.x');
    expect(isNotFound(new Error('x'))).to.equal(false);
  });

  it('maps children to primary keys by label and by controller owner', () => {
    const job = {
      metadata: {
        namespace: 'ns',
        name: 'j',
        labels: { 'csbs.dev/backup': 'b1' },
        ownerReferences: [
          controllerRef({ metadata: { name: 'r1', uid: 'u1' } }, Kinds.Restore),
          { apiVersion: 'csbs.dev/v1alpha1', kind: 'Restore', name: 'not-controller', uid: 'u2' },
        ],
      },
    };
    expect(mapByLabel('csbs.dev/backup')(job, undefined as never)).to.deep.equal([
      { namespace: 'ns', name: 'b1' },
    ]);
    expect(mapByLabel('csbs.dev/restore')(job, undefined as never)).to.deep.equal([]);
    expect(mapByOwner(Kinds.Restore)(job, undefined as never)).to.deep.equal([
      { namespace: 'ns', name: 'r1' },
    ]);
    expect(mapByOwner(Kinds.Backup)(job, undefined as never)).to.deep.equal([]);
  });

  it('round-trips keys and matches labels', () => {
    expect(parseKey(keyString({ namespace: 'a', name: 'b' }))).to.deep.equal({ namespace: 'a', name: 'b' });
    expect(parseKey(keyString({ namespace: '', name: 'n' }))).to.deep.equal({ namespace: '', name: 'n' });
    const obj = { metadata: { labels: { a: '1', b: '2' } } };
    expect(matchesLabels(obj, { a: '1' })).to.equal(true);
    expect(matchesLabels(obj, { a: '1', b: '3' })).to.equal(false);
    expect(matchesLabels({ metadata: {} }, { a: '1' })).to.equal(false);
    expect(matchesLabels({ metadata: {} }, undefined)).to.equal(true);
  });

  it('compares JSON semantically', () => {
    expect(deepEqual({ a: [1, { b: 2 }], c: undefined }, { a: [1, { b: 2 }] })).to.equal(true);
    expect(deepEqual({ a: [1, 2] }, { a: [2, 1] })).to.equal(false);
    expect(deepEqual({ a: null }, { a: {} })).to.equal(false);
    expect(deepEqual([], {})).to.equal(false);
  });

  it('reads finalizers and deletion state', () => {
    const o = {
      metadata: { finalizers: ['x'], deletionTimestamp: '2026-01-01T00:00:00Z' as unknown as Date },
    };
    expect(hasFinalizer(o, 'x')).to.equal(true);
    expect(hasFinalizer(o, 'y')).to.equal(false);
    expect(isBeingDeleted(o)).to.equal(true);
    expect(isBeingDeleted({ metadata: {} })).to.equal(false);
  });

  it('parses bind addresses and durations with clear errors', () => {
    expect(parseBindAddress(':8080')).to.deep.equal({ host: undefined, port: 8080 });
    expect(parseBindAddress('127.0.0.1:0')).to.deep.equal({ host: '127.0.0.1', port: 0 });
    expect(parseBindAddress('[::1]:9')).to.deep.equal({ host: '::1', port: 9 });
    expect(parseBindAddress('0')).to.equal(undefined);
    expect(() => parseBindAddress('8080')).to.throw(/expected host:port/);
    expect(() => parseBindAddress(':99999')).to.throw(/0\.\.65535/);
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('15s')).to.equal(15_000);
    expect(parseDuration('2m')).to.equal(120_000);
    expect(parseDuration('3')).to.equal(3000);
    expect(() => parseDuration('soon')).to.throw(/not a duration/);
  });
});
