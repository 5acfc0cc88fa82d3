import { expect } from 'chai';
import {
  formatFieldError,
  structural,
  undocumentedFields,
  validateObjectMeta,
  type JSONSchemaProps,
} from '../../src/schema/index.js';

const msgs = (s: JSONSchemaProps, path = 'openAPIV3Schema') => structural(s, path).map(formatFieldError);

describe('schema engine: structural check', () => {
  it('accepts a structural schema', () => {
    expect(
      msgs({
        type: 'object',
        properties: {
          metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 20 } } },
          spec: {
            type: 'object',
            properties: {
              a: { type: 'string', default: 'x' },
              b: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
              c: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              d: { type: 'object', additionalProperties: { type: 'string' } },
            },
            oneOf: [{ required: ['a'] }, { required: ['b'] }],
            'x-kubernetes-validations': [{ rule: 'self.a != ""' }],
          },
        },
      }),
    ).to.deep.equal([]);
  });

  it('says why a schema is not structural', () => {
    const all = msgs({
      type: 'object',
      properties: {
        metadata: { type: 'object', properties: { labels: { type: 'object' } } },
        spec: {
          type: 'object',
          properties: {
            untyped: { description: 'no type' },
            tuple: { type: 'array', items: [{ type: 'string' }] },
            both: {
              type: 'object',
              properties: { a: { type: 'string' } },
              additionalProperties: { type: 'string' },
            },
            uniq: { type: 'array', uniqueItems: true, items: { type: 'string' } },
            ref: { type: 'object', $ref: '#/definitions/x' },
            badDefault: { type: 'object', default: { unknown: 1 }, properties: { a: { type: 'string' } } },
            wrongDefault: { type: 'integer', minimum: 1, default: 0 },
            mapList: {
              type: 'array',
              'x-kubernetes-list-type': 'map',
              items: { type: 'object', properties: {} },
            },
          },
          anyOf: [{ type: 'string' }, { properties: { nope: { type: 'string' } } }],
          'x-kubernetes-validations': [{ rule: 'self.a ==' }],
        },
      },
    });
    const compile = all.filter((m) => m.includes('x-kubernetes-validations'));
    expect(compile).to.have.length(1);
    expect(compile[0]).to.match(
      /^openAPIV3Schema\.properties\[spec\]\.x-kubernetes-validations\[0\]\.rule: Invalid value: "self\.a ==": compilation failed: /,
    );
    expect(all.filter((m) => !m.includes('x-kubernetes-validations'))).to.have.members([
      'openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified',
      'openAPIV3Schema.properties[metadata].properties[labels].type: Invalid value: "object": must be string',
      'openAPIV3Schema.properties[spec].properties[untyped].type: Required value: must not be empty for specified object fields',
      'openAPIV3Schema.properties[spec].properties[tuple].items: Forbidden: items must be a schema object and not an array',
      'openAPIV3Schema.properties[spec].properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive',
      'openAPIV3Schema.properties[spec].properties[uniq].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic',
      'openAPIV3Schema.properties[spec].properties[ref].$ref: Forbidden: $ref is not supported',
      'openAPIV3Schema.properties[spec].properties[badDefault].default: Invalid value: {"unknown":1}: must not have unknown fields',
      'openAPIV3Schema.properties[spec].properties[wrongDefault].default: Invalid value: 0: openAPIV3Schema.properties[spec].properties[wrongDefault].default in body should be greater than or equal to 1',
      'openAPIV3Schema.properties[spec].properties[mapList].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map',
      'openAPIV3Schema.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural',
      'openAPIV3Schema.properties[spec].anyOf[1].properties[nope]: Forbidden: must not specify anything other than what is specified in the structural part',
    ]);
  });

  it('wants an object at the root', () => {
    expect(msgs({ type: 'string' })).to.deep.equal([
      'openAPIV3Schema.type: Invalid value: "string": must be object at the root',
    ]);
  });

  it('lists fields without a description', () => {
    expect(
      undocumentedFields({
        type: 'object',
        properties: {
          spec: {
            type: 'object',
            description: 'd',
            properties: {
              a: { type: 'string' },
              l: {
                type: 'array',
                description: 'd',
                items: { type: 'object', properties: { x: { type: 'string' } } },
              },
            },
          },
        },
      }),
    ).to.deep.equal(['spec.a', 'spec.l[].x']);
  });
});

describe('schema engine: object metadata', () => {
  const meta = (m: Record<string, unknown>) =>
    validateObjectMeta({ metadata: m }, true).map(formatFieldError);

  it('accepts a valid name, labels and finalizers', () => {
    expect(
      meta({ name: 'manualbk-1a2b', labels: { 'csbs.dev/server': 'web_1' }, finalizers: ['csbs.dev/x'] }),
    ).to.deep.equal([]);
    expect(meta({ generateName: 'restore-' })).to.deep.equal([]);
  });

  it('rejects names with illegal characters, missing names, bad namespaces and labels', () => {
    expect(meta({ name: 'manualbk_1a2b' })).to.deep.equal([
      `metadata.name: Invalid value: "manualbk_1a2b": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    ]);
    expect(meta({})).to.deep.equal(['metadata.name: Required value: name or generateName is required']);
    expect(meta({ name: 'a', namespace: 'Bad' })[0]).to.match(
      /^metadata\.namespace: Invalid value: "Bad": a lowercase RFC 1123 label/,
    );
    expect(meta({ name: 'a', labels: { 'bad key!': 'x', ok: 'bad value!' } })).to.have.length(2);
    expect(meta({ name: 'x'.repeat(254) })[0]).to.match(/must be no more than 253 characters$/);
    expect(
      validateObjectMeta({ metadata: { name: 'a', namespace: 'n' } }, false).map(formatFieldError),
    ).to.deep.equal(['metadata.namespace: Forbidden: not allowed on this type']);
  });
});
