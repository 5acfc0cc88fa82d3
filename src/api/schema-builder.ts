/**
 * A small typed builder for CRD schemas. Every builder takes the field's description first (so no field
 * can lack one) and carries the TypeScript type of the values it admits, so `Infer<typeof node>` is the
 * type the schema describes; `types.test.ts` proves it equals the hand-written types in `types.ts`.
 */
import type { JSONSchemaProps, ValidationRule } from './openapi.js';

/** A schema node admitting values of type `T`; `R` says whether its parent lists it as required. */
export interface Node<T, R extends boolean = boolean> {
  readonly schema: JSONSchemaProps;
  readonly required: R;
  /** Phantom: never set, only carries `T` for inference. */
  readonly __type?: T;
}

/** The TypeScript type a node admits. */
export type Infer<N> = N extends Node<infer T, boolean> ? T : never;

/** Keyword options common to all nodes (anything JSONSchemaProps allows besides type/description). */
export type Extra = Omit<JSONSchemaProps, 'type' | 'description' | 'properties' | 'items' | 'required'>;

function node<T>(schema: JSONSchemaProps): Node<T, false> {
  return { schema, required: false };
}

/** The same node, listed as required by its parent. */
export function required<T>(n: Node<T, boolean>): Node<T, true> {
  return { schema: n.schema, required: true };
}

/** The same node with CEL rules appended. */
export function rules<T, R extends boolean>(n: Node<T, R>, ...list: ValidationRule[]): Node<T, R> {
  const existing = n.schema['x-kubernetes-validations'] ?? [];
  return { ...n, schema: { ...n.schema, 'x-kubernetes-validations': [...existing, ...list] } };
}

/** A string. */
export function string(description: string, extra: Extra = {}): Node<string, false> {
  return node({ type: 'string', description, ...extra });
}

/** A string restricted to `values`. */
export function stringEnum<const V extends string>(
  description: string,
  values: readonly V[],
  extra: Extra = {},
): Node<V, false> {
  // maxLength bounds the value for the API server's CEL cost estimate, like any string a rule reads.
  const maxLength = Math.max(...values.map((v) => v.length));
  return node({ type: 'string', description, enum: [...values], maxLength, ...extra });
}

/** An integer (int64 unless `format` says otherwise). */
export function integer(description: string, extra: Extra = {}): Node<number, false> {
  return node({ type: 'integer', format: 'int64', description, ...extra });
}

/** A boolean. */
export function boolean(description: string, extra: Extra = {}): Node<boolean, false> {
  return node({ type: 'boolean', description, ...extra });
}

/** An RFC 3339 timestamp string. */
export function dateTime(description: string, extra: Extra = {}): Node<string, false> {
  return node({ type: 'string', format: 'date-time', description, ...extra });
}

/** A list of `item`. */
export function array<T>(description: string, item: Node<T, boolean>, extra: Extra = {}): Node<T[], false> {
  return node({ type: 'array', description, items: item.schema, ...extra });
}

/** A map from strings to `value`. */
export function map<T>(
  description: string,
  value: Node<T, boolean>,
  extra: Extra = {},
): Node<Record<string, T>, false> {
  return node({ type: 'object', description, additionalProperties: value.schema, ...extra });
}

type Props = Record<string, Node<unknown, boolean>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type RequiredKeys<P extends Props> = {
  [K in keyof P]: P[K] extends Node<unknown, true> ? K : never;
}[keyof P];
type OptionalKeys<P extends Props> = Exclude<keyof P, RequiredKeys<P>>;
/** The object type a property map describes: required nodes are required keys, the rest optional. */
export type ObjectOf<P extends Props> = Simplify<
  { [K in RequiredKeys<P>]: Infer<P[K]> } & { [K in OptionalKeys<P>]?: Infer<P[K]> }
>;

/** An object with the given properties (those wrapped in `required()` are required). */
export function object<P extends Props>(
  description: string,
  props: P,
  extra: Extra = {},
): Node<ObjectOf<P>, false> {
  const properties: Record<string, JSONSchemaProps> = {};
  const req: string[] = [];
  for (const [k, n] of Object.entries(props)) {
    properties[k] = n.schema;
    if (n.required) req.push(k);
  }
  const schema: JSONSchemaProps = { type: 'object', description, properties, ...extra };
  if (req.length) schema.required = req;
  return node(schema);
}
