import { expect } from 'chai';
import {
  admit,
  formatFieldError,
  invalidMessage,
  RULES_NOT_CHECKED,
  type FieldError,
  type JSONSchemaProps,
} from '../../src/schema/index.js';

const messages = (errs: FieldError[]) => errs.map(formatFieldError);

/** A resource schema with `spec` as given. */
function resource(spec: JSONSchemaProps, extra: Record<string, JSONSchemaProps> = {}): JSONSchemaProps {
  return {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec,
      ...extra,
    },
  };
}

function cr(spec: unknown, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'x.dev/v1', kind: 'X', metadata: { name: 'a', labels: { k: 'v' } }, spec, ...extra };
}

describe('schema engine: pruning', () => {
  it('drops undeclared fields, keeps apiVersion/kind/metadata at the root, reports what it dropped', () => {
    const s = resource({ type: 'object', properties: { a: { type: 'string' } } });
    const input = cr({ a: 'x', b: 1 }, { extra: true });
    (input.metadata as Record<string, unknown>).bogus = 1;
    const r = admit(s, input);
    expect(r.object).to.deep.equal({
      apiVersion: 'x.dev/v1',
      kind: 'X',
      metadata: { name: 'a', labels: { k: 'v' } },
      spec: { a: 'x' },
    });
    expect(r.pruned).to.have.members(['spec.b', 'extra', 'metadata.bogus']);
    expect(r.errors).to.deep.equal([]);
    expect(input.spec).to.deep.equal({ a: 'x', b: 1 }, 'the input is not modified');
  });

  it('honours x-kubernetes-preserve-unknown-fields, embedded resources and additionalProperties', () => {
    const s = resource({
      type: 'object',
      properties: {
        free: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
          properties: { k: { type: 'object', properties: {} } },
        },
        embedded: {
          type: 'object',
          'x-kubernetes-embedded-resource': true,
          properties: { spec: { type: 'object', properties: { x: { type: 'integer' } } } },
        },
        map: {
          type: 'object',
          additionalProperties: { type: 'object', properties: { v: { type: 'string' } } },
        },
        ios: { 'x-kubernetes-int-or-string': true },
      },
    });
    const r = admit(
      s,
      cr({
        free: { anything: { deep: 1 }, k: { dropped: 1 } },
        embedded: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p', junk: 1 },
          spec: { x: 1, y: 2 },
          z: 3,
        },
        map: { one: { v: 'a', w: 'b' } },
        ios: '50%',
      }),
    );
    expect(r.object.spec).to.deep.equal({
      free: { anything: { deep: 1 }, k: {} },
      embedded: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { x: 1 } },
      map: { one: { v: 'a' } },
      ios: '50%',
    });
    expect(r.errors).to.deep.equal([]);
  });
});

describe('schema engine: defaulting', () => {
  const s = resource({
    type: 'object',
    default: {},
    properties: {
      enabled: { type: 'boolean', default: true },
      nested: { type: 'object', default: {}, properties: { tz: { type: 'string', default: 'UTC' } } },
      absentParent: { type: 'object', properties: { x: { type: 'integer', default: 5 } } },
      nullable: { type: 'string', nullable: true, default: 'd' },
      nulled: { type: 'integer', default: 7 },
      dropped: { type: 'string' },
      list: { type: 'array', items: { type: 'object', properties: { n: { type: 'integer', default: 1 } } } },
    },
  });

  it('fills absent fields, recurses into inserted defaults, skips absent parents', () => {
    const r = admit(s, cr({ list: [{}, { n: 3 }], nullable: null, nulled: null, dropped: null }));
    expect(r.object.spec).to.deep.equal({
      enabled: true,
      nested: { tz: 'UTC' },
      nullable: null,
      nulled: 7,
      list: [{ n: 1 }, { n: 3 }],
    });
    expect(r.errors).to.deep.equal([]);
  });

  it('defaults a missing spec from the spec default', () => {
    const obj = cr(undefined);
    delete (obj as Record<string, unknown>).spec;
    expect(admit(s, obj).object.spec).to.deep.equal({
      enabled: true,
      nested: { tz: 'UTC' },
      nullable: 'd',
      nulled: 7,
    });
  });
});

describe('schema engine: keyword validation', () => {
  const s = resource({
    type: 'object',
    required: ['must'],
    properties: {
      must: { type: 'string' },
      count: { type: 'integer', minimum: 1, maximum: 10 },
      exclusive: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
      compression: { type: 'string', enum: ['zstd', 'lz4', 'none'] },
      name: { type: 'string', minLength: 2, maxLength: 5, pattern: '^[a-z]+$' },
      list: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'string' } },
      unique: { type: 'array', uniqueItems: true, items: { type: 'integer' } },
      set: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
      map: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['kind', 'name'],
        items: {
          type: 'object',
          required: ['kind', 'name'],
          properties: { kind: { type: 'string' }, name: { type: 'string' } },
        },
      },
      props: { type: 'object', minProperties: 1, maxProperties: 2, additionalProperties: { type: 'string' } },
      when: { type: 'string', format: 'date-time' },
      step: { type: 'integer', multipleOf: 5 },
      ios: { 'x-kubernetes-int-or-string': true },
      maybe: { type: 'string', nullable: true },
    },
  });

  it('accepts a valid object', () => {
    const ok = admit(
      s,
      cr({
        must: 'x',
        count: 10,
        exclusive: 0.5,
        compression: 'lz4',
        name: 'ab',
        list: ['a'],
        unique: [1, 2],
        set: ['a', 'b'],
        map: [
          { kind: 'A', name: 'x' },
          { kind: 'B', name: 'x' },
        ],
        props: { a: 'b' },
        when: '2026-11-25T17:00:00Z',
        step: 10,
        ios: 3,
        maybe: null,
      }),
    );
    expect(ok.errors).to.deep.equal([]);
  });

  it('reports each keyword with the apiserver wording', () => {
    const r = admit(
      s,
      cr({
        count: 0,
        exclusive: 1,
        compression: 'gzip',
        name: 'ABCDEFG',
        list: [],
        unique: [1, 1],
        set: ['a', 'a'],
        map: [
          { kind: 'A', name: 'x' },
          { kind: 'A', name: 'x' },
        ],
        props: {},
        when: 'yesterday',
        step: 7,
      }),
    );
    expect(messages(r.errors)).to.have.members([
      'spec.must: Required value',
      'spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1',
      'spec.exclusive: Invalid value: 1: spec.exclusive in body should be less than 1',
      'spec.compression: Unsupported value: "gzip": supported values: "zstd", "lz4", "none"',
      'spec.name: Too long: may not be longer than 5',
      'spec.name: Invalid value: "ABCDEFG": spec.name in body should match \'^[a-z]+$\'',
      'spec.list: Invalid value: 0: spec.list in body should have at least 1 items',
      "spec.unique: Invalid value: [1,1]: spec.unique in body shouldn't contain duplicates",
      'spec.set[1]: Duplicate value: "a"',
      'spec.map[1]: Duplicate value: {"kind":"A","name":"x"}',
      'spec.props: Invalid value: {}: spec.props in body should have at least 1 properties',
      'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"',
      'spec.step: Invalid value: 7: spec.step in body should be a multiple of 5',
    ]);
  });

  it('reports types, too many items/properties and short strings', () => {
    const r = admit(
      s,
      cr({
        must: 1,
        count: 'ten',
        list: ['a', 'b', 'c'],
        props: { a: 'x', b: 'y', c: 'z' },
        name: 'a',
        ios: 1.5,
        maybe: 3,
      }),
    );
    expect(messages(r.errors)).to.have.members([
      'spec.must: Invalid value: "integer": spec.must in body must be of type string: "integer"',
      'spec.count: Invalid value: "string": spec.count in body must be of type integer: "string"',
      'spec.list: Too many: 3: must have at most 2 items',
      'spec.props: Too many: 3: must have at most 2 items',
      'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long',
      'spec.ios: Invalid value: "number": spec.ios in body must be of type integer,string: "number"',
      'spec.maybe: Invalid value: "integer": spec.maybe in body must be of type string: "integer"',
    ]);
  });
});

describe('schema engine: CEL rules', () => {
  const retention: JSONSchemaProps = {
    type: 'object',
    properties: { maxCount: { type: 'integer' }, maxAgeDays: { type: 'integer' } },
    'x-kubernetes-validations': [
      {
        rule: '!(has(self.maxCount) && has(self.maxAgeDays))',
        message: 'maxCount and maxAgeDays are exclusive',
      },
      {
        rule: '!has(self.maxCount) || self.maxCount < 100',
        messageExpression: "'maxCount ' + string(self.maxCount) + ' is too large'",
        fieldPath: '.maxCount',
      },
      {
        rule: '!has(self.maxAgeDays) || self.maxAgeDays != 13',
        reason: 'FieldValueForbidden',
        message: 'unlucky',
      },
    ],
  };
  const s = resource({
    type: 'object',
    properties: {
      retention,
      blockSize: {
        type: 'integer',
        'x-kubernetes-validations': [
          { rule: 'self == oldSelf', message: 'blockSize is immutable' },
          { rule: 'self >= 4096' },
        ],
      },
      tz: {
        type: 'string',
        'x-kubernetes-validations': [{ rule: "timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0" }],
      },
      items: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        items: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string' },
            size: {
              type: 'integer',
              'x-kubernetes-validations': [{ rule: 'self >= oldSelf', message: 'may only grow' }],
            },
          },
        },
      },
      atomic: {
        type: 'array',
        items: {
          type: 'integer',
          'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'never checked' }],
        },
      },
    },
    'x-kubernetes-validations': [
      { rule: 'has(self.retention) || has(self.tz)', message: 'retention or tz required' },
    ],
  });

  it('passes a valid object and reports failing rules with message, messageExpression, fieldPath and reason', () => {
    expect(admit(s, cr({ retention: { maxCount: 3 }, blockSize: 4096 })).errors).to.deep.equal([]);
    const r = admit(s, cr({ retention: { maxCount: 300, maxAgeDays: 13 }, blockSize: 1024 }));
    expect(messages(r.errors)).to.have.members([
      'spec.retention: Invalid value: maxCount and maxAgeDays are exclusive',
      'spec.retention.maxCount: Invalid value: maxCount 300 is too large',
      'spec.retention: Forbidden: unlucky',
      'spec.blockSize: Invalid value: 1024: failed rule: self >= 4096',
    ]);
    expect(messages(admit(s, cr({})).errors)).to.deep.equal([
      'spec: Invalid value: retention or tz required',
    ]);
  });

  it('reports an evaluation error (unknown time zone) on the field', () => {
    const r = admit(s, cr({ tz: 'Mars/Olympus' }));
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]!.field).to.equal('spec.tz');
    expect(formatFieldError(r.errors[0]!)).to.match(
      /^spec\.tz: Invalid value: "string": .*Mars\/Olympus.* evaluating rule:/,
    );
    expect(admit(s, cr({ tz: 'Europe/Paris' })).errors).to.deep.equal([]);
  });

  it('runs transition rules only on update, against correlated old values', () => {
    const old = admit(
      s,
      cr({ tz: 'UTC', blockSize: 65536, items: [{ name: 'a', size: 5 }], atomic: [1] }),
    ).object;
    expect(admit(s, cr({ tz: 'UTC', blockSize: 8192 })).errors, 'create').to.deep.equal([]);
    expect(messages(admit(s, cr({ tz: 'UTC', blockSize: 8192 }), old).errors)).to.deep.equal([
      'spec.blockSize: Invalid value: 8192: blockSize is immutable',
    ]);
    expect(admit(s, cr({ tz: 'UTC', blockSize: 65536 }), old).errors).to.deep.equal([]);
    const shrink = admit(
      s,
      cr({
        tz: 'UTC',
        blockSize: 65536,
        items: [
          { name: 'b', size: 1 },
          { name: 'a', size: 4 },
        ],
        atomic: [2],
      }),
      old,
    );
    expect(messages(shrink.errors)).to.deep.equal(['spec.items[1].size: Invalid value: 4: may only grow']);
  });

  it('skips rules when an earlier error blocks them, as the apiserver does', () => {
    const r = admit(s, cr({ retention: { maxCount: 'many' } }));
    expect(messages(r.errors)).to.deep.equal([
      'spec.retention.maxCount: Invalid value: "string": spec.retention.maxCount in body must be of type integer: "string"',
      `<nil>: Invalid value: null: ${RULES_NOT_CHECKED}`,
    ]);
  });

  it('reports a rule that does not compile', () => {
    const bad = resource({ type: 'object', 'x-kubernetes-validations': [{ rule: 'self.a +' }] });
    const r = admit(bad, cr({}));
    expect(r.errors).to.have.length(1);
    expect(formatFieldError(r.errors[0]!)).to.match(/^spec: Invalid value: "object": rule compile error: /);
  });
});

describe('schema engine: error text', () => {
  it('formats aggregates like a 422 Status message', () => {
    const errs: FieldError[] = [
      { type: 'Required', field: 'spec.a', detail: '' },
      { type: 'Invalid', field: 'spec.b', value: 0, detail: 'must be positive' },
    ];
    expect(invalidMessage('BackupPolicy.csbs.dev', 'nightly', errs)).to.equal(
      'BackupPolicy.csbs.dev "nightly" is invalid: [spec.a: Required value, spec.b: Invalid value: 0: must be positive]',
    );
    expect(invalidMessage('Backup.csbs.dev', 'x', errs.slice(0, 1))).to.equal(
      'Backup.csbs.dev "x" is invalid: spec.a: Required value',
    );
  });
});
