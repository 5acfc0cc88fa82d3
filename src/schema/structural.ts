/**
 * The structural-schema check kube-apiserver applies to a CRD version's `openAPIV3Schema`: every node
 * of the structural part has a type, no $ref/definitions/patternProperties/tuple items, value
 * validations (allOf/anyOf/oneOf/not) do not carry types or defaults, metadata is restricted to
 * name/generateName, list-type maps have scalar keys, defaults are valid and pruned, CEL rules compile.
 */
import { compileRule } from './cel.js';
import { applyDefaults } from './defaults.js';
import { fieldError, type FieldError } from './errors.js';
import { prune } from './prune.js';
import { deepCopy, isObject, itemsOf, jsonEqual, type JSONSchemaProps } from './props.js';
import { validateValue } from './validate.js';

const FORBIDDEN_ANYWHERE: Array<[keyof JSONSchemaProps, string]> = [
  ['$ref', '$ref is not supported'],
  ['$schema', '$schema is not supported'],
  ['id', 'id is not supported'],
  ['definitions', 'definitions are not supported'],
  ['dependencies', 'dependencies are not supported'],
  ['patternProperties', 'patternProperties is not supported'],
  ['additionalItems', 'additionalItems is not supported'],
];

/** Keys a value validation (inside allOf/anyOf/oneOf/not) must not set. */
const FORBIDDEN_IN_VALUE_VALIDATION: Array<keyof JSONSchemaProps> = [
  'type',
  'description',
  'title',
  'default',
  'nullable',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
];

/**
 * Why `schema` is not a structural schema (empty when it is). Paths are relative to the schema node,
 * prefixed by `path` (e.g. `spec.versions[0].schema.openAPIV3Schema`).
 */
export function structural(schema: JSONSchemaProps, path = ''): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(schema)) return [fieldError.required(path, 'must be a schema object')];
  if (schema.type !== 'object') {
    errs.push(fieldError.invalid(join(path, 'type'), schema.type ?? '', 'must be object at the root'));
  }
  checkMetadata(schema, path, errs);
  node(schema, path, errs, 'root');
  return errs;
}

function join(path: string, child: string): string {
  if (!path) return child;
  return child.startsWith('[') ? `${path}${child}` : `${path}.${child}`;
}

function node(s: JSONSchemaProps, path: string, errs: FieldError[], context: string): void {
  for (const [key, msg] of FORBIDDEN_ANYWHERE) {
    if (s[key] !== undefined) errs.push(fieldError.forbidden(join(path, key), msg));
  }
  if (s.uniqueItems === true) {
    errs.push(
      fieldError.forbidden(
        join(path, 'uniqueItems'),
        'uniqueItems cannot be set to true since the runtime complexity becomes quadratic',
      ),
    );
  }
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'];
  if (preserve === false) {
    errs.push(
      fieldError.invalid(
        join(path, 'x-kubernetes-preserve-unknown-fields'),
        false,
        'must be true or undefined',
      ),
    );
  }
  if (intOrString) {
    if (s.type !== undefined) {
      errs.push(
        fieldError.invalid(join(path, 'type'), s.type, 'must be empty if x-kubernetes-int-or-string is true'),
      );
    }
  } else if (!s.type && preserve !== true) {
    errs.push(fieldError.required(join(path, 'type'), `must not be empty for specified ${context}`));
  }
  if (s['x-kubernetes-embedded-resource'] === true) {
    if (s.type !== 'object') {
      errs.push(
        fieldError.invalid(
          join(path, 'type'),
          s.type ?? '',
          'must be object if x-kubernetes-embedded-resource is true',
        ),
      );
    }
    if (!s.properties && preserve !== true) {
      errs.push(
        fieldError.required(
          join(path, 'properties'),
          'must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields',
        ),
      );
    }
  }
  if (s.properties && s.additionalProperties !== undefined) {
    errs.push(
      fieldError.forbidden(
        join(path, 'additionalProperties'),
        'additionalProperties and properties are mutual exclusive',
      ),
    );
  }
  if (s.additionalProperties === false) {
    errs.push(fieldError.forbidden(join(path, 'additionalProperties'), 'must not be false'));
  }
  if (Array.isArray(s.items)) {
    errs.push(fieldError.forbidden(join(path, 'items'), 'items must be a schema object and not an array'));
  }
  if (s.type === 'array' && s.items === undefined) {
    errs.push(fieldError.required(join(path, 'items'), 'must be specified'));
  }
  if (s.type && s.type !== 'object' && (s.properties || s.additionalProperties !== undefined)) {
    errs.push(fieldError.forbidden(join(path, 'properties'), `must not be set for type ${s.type}`));
  }

  checkListType(s, path, errs);
  checkDefault(s, path, errs);
  checkRules(s, path, errs);

  for (const [k, p] of Object.entries(s.properties ?? {}))
    node(p, join(path, `properties[${k}]`), errs, 'object fields');
  if (typeof s.additionalProperties === 'object') {
    node(s.additionalProperties, join(path, 'additionalProperties'), errs, 'additionalProperties');
  }
  const items = itemsOf(s);
  if (items) node(items, join(path, 'items'), errs, 'array items');

  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    s[k]?.forEach((v, i) => valueValidation(v, s, join(path, `${k}[${i}]`), errs));
  }
  if (s.not) valueValidation(s.not, s, join(path, 'not'), errs);
}

/** Value validations may restrict values, never declare structure or defaults. */
function valueValidation(
  v: JSONSchemaProps,
  structuralNode: JSONSchemaProps,
  path: string,
  errs: FieldError[],
): void {
  for (const k of FORBIDDEN_IN_VALUE_VALIDATION) {
    // int-or-string may spell its two alternatives as anyOf/allOf [{type: integer}, {type: string}].
    if (k === 'type' && structuralNode['x-kubernetes-int-or-string'] === true) continue;
    if (v[k] !== undefined) errs.push(fieldError.forbidden(join(path, k), 'must be empty to be structural'));
  }
  for (const [key, msg] of FORBIDDEN_ANYWHERE) {
    if (v[key] !== undefined) errs.push(fieldError.forbidden(join(path, key), msg));
  }
  for (const [k, p] of Object.entries(v.properties ?? {})) {
    const sp = structuralNode.properties?.[k];
    if (!sp && structuralNode['x-kubernetes-preserve-unknown-fields'] !== true) {
      errs.push(
        fieldError.forbidden(
          join(path, `properties[${k}]`),
          'must not specify anything other than what is specified in the structural part',
        ),
      );
    } else if (sp) {
      valueValidation(p, sp, join(path, `properties[${k}]`), errs);
    }
  }
  const items = itemsOf(v);
  const sItems = itemsOf(structuralNode);
  if (items && sItems) valueValidation(items, sItems, join(path, 'items'), errs);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    v[k]?.forEach((x, i) => valueValidation(x, structuralNode, join(path, `${k}[${i}]`), errs));
  }
  if (v.not) valueValidation(v.not, structuralNode, join(path, 'not'), errs);
}

function checkMetadata(root: JSONSchemaProps, path: string, errs: FieldError[]): void {
  const meta = root.properties?.metadata;
  if (!meta) return;
  const at = join(path, 'properties[metadata]');
  const allowed = new Set(['type', 'properties']);
  const extra = Object.keys(meta).filter((k) => !allowed.has(k));
  const badProps = Object.keys(meta.properties ?? {}).filter((k) => k !== 'name' && k !== 'generateName');
  if (meta.type !== 'object' || extra.length || badProps.length) {
    errs.push(
      fieldError.forbidden(
        at,
        'must not specify anything other than name and generateName, but metadata is implicitly specified',
      ),
    );
  }
  for (const [k, p] of Object.entries(meta.properties ?? {})) {
    if (p.type !== 'string')
      errs.push(fieldError.invalid(join(at, `properties[${k}].type`), p.type ?? '', 'must be string'));
    if (p.default !== undefined)
      errs.push(fieldError.forbidden(join(at, `properties[${k}].default`), 'must not be set for metadata'));
  }
}

function checkListType(s: JSONSchemaProps, path: string, errs: FieldError[]): void {
  const lt = s['x-kubernetes-list-type'];
  const keys = s['x-kubernetes-list-map-keys'];
  if (lt !== undefined && s.type !== 'array') {
    errs.push(
      fieldError.invalid(join(path, 'x-kubernetes-list-type'), lt, 'must only be used if type is array'),
    );
  }
  if (keys !== undefined && lt !== 'map') {
    errs.push(
      fieldError.forbidden(
        join(path, 'x-kubernetes-list-map-keys'),
        'must not be set if x-kubernetes-list-type is not map',
      ),
    );
  }
  const items = itemsOf(s);
  if (lt === 'map') {
    if (!keys?.length) {
      errs.push(
        fieldError.required(
          join(path, 'x-kubernetes-list-map-keys'),
          'must not be empty if x-kubernetes-list-type is map',
        ),
      );
    }
    if (items?.type !== 'object') {
      errs.push(
        fieldError.invalid(
          join(path, 'items.type'),
          items?.type ?? '',
          "must be object if parent array's x-kubernetes-list-type is map",
        ),
      );
    }
    for (const k of keys ?? []) {
      const ks = items?.properties?.[k];
      if (!ks) {
        errs.push(
          fieldError.invalid(
            join(path, 'x-kubernetes-list-map-keys'),
            keys,
            `entries must all be names of item properties`,
          ),
        );
      } else if (!['string', 'integer', 'number', 'boolean'].includes(ks.type ?? '')) {
        errs.push(
          fieldError.invalid(
            join(path, `items.properties[${k}].type`),
            ks.type ?? '',
            "must be a scalar type if parent array's x-kubernetes-list-type is map",
          ),
        );
      } else if (!items?.required?.includes(k) && ks.default === undefined) {
        errs.push(
          fieldError.required(
            join(path, `items.required`),
            `map key ${JSON.stringify(k)} must be required or have a default`,
          ),
        );
      }
    }
  }
  if (
    lt === 'set' &&
    items &&
    (items.type === 'object' || items.type === 'array') &&
    items['x-kubernetes-map-type'] !== 'atomic' &&
    items['x-kubernetes-list-type'] !== 'atomic'
  ) {
    errs.push(
      fieldError.invalid(
        join(path, 'items.x-kubernetes-map-type'),
        items['x-kubernetes-map-type'] ?? '',
        'must be atomic as item of a list with x-kubernetes-list-type=set',
      ),
    );
  }
}

function checkDefault(s: JSONSchemaProps, path: string, errs: FieldError[]): void {
  if (s.default === undefined) return;
  const at = join(path, 'default');
  if (s.default === null && !s.nullable) {
    errs.push(fieldError.invalid(at, null, 'must not be null for non-nullable field'));
    return;
  }
  // The default must survive pruning unchanged (no unknown fields) and validate, like the server checks.
  const value = deepCopy(s.default);
  prune(value, s, false);
  if (!jsonEqual(value, s.default)) {
    errs.push(fieldError.invalid(at, s.default, 'must not have unknown fields'));
  }
  applyDefaults(value, s);
  for (const e of validateValue(value, s, at).errors) errs.push(e);
}

function checkRules(s: JSONSchemaProps, path: string, errs: FieldError[]): void {
  s['x-kubernetes-validations']?.forEach((rule, i) => {
    const at = join(path, `x-kubernetes-validations[${i}]`);
    if (typeof rule?.rule !== 'string' || rule.rule.trim() === '') {
      errs.push(fieldError.required(join(at, 'rule'), ''));
      return;
    }
    const c = compileRule(rule);
    if (c.compileError)
      errs.push(fieldError.invalid(join(at, 'rule'), rule.rule, `compilation failed: ${c.compileError}`));
    if (rule.message !== undefined && (rule.message.trim() === '' || /\n/.test(rule.message))) {
      errs.push(
        fieldError.invalid(
          join(at, 'message'),
          rule.message,
          'message must be non-empty and contain no line breaks',
        ),
      );
    }
    if (
      rule.fieldPath !== undefined &&
      !/^(\.[A-Za-z_][A-Za-z0-9_-]*|\['(?:[^'\\]|\\.)*'\])+$/.test(rule.fieldPath)
    ) {
      errs.push(
        fieldError.invalid(join(at, 'fieldPath'), rule.fieldPath, 'must be a valid relative JSON path'),
      );
    }
  });
}

/** Paths of schema nodes (properties and items of the structural part) that have no `description`. */
export function undocumentedFields(schema: JSONSchemaProps, path = ''): string[] {
  const out: string[] = [];
  const visit = (s: JSONSchemaProps, p: string, isRoot: boolean) => {
    if (!isRoot && !s.description?.trim()) out.push(p);
    for (const [k, c] of Object.entries(s.properties ?? {})) {
      // Root metadata is implicit (ObjectMeta) and may not carry a description.
      if (isRoot && k === 'metadata') continue;
      visit(c, p ? `${p}.${k}` : k, false);
    }
    const items = itemsOf(s);
    if (items?.properties)
      for (const [k, c] of Object.entries(items.properties)) visit(c, `${p}[].${k}`, false);
    if (typeof s.additionalProperties === 'object' && s.additionalProperties.properties) {
      for (const [k, c] of Object.entries(s.additionalProperties.properties)) visit(c, `${p}{}.${k}`, false);
    }
  };
  visit(schema, path, true);
  return out;
}
