/**
 * Protobuf encoding of an OpenAPI v2 document in gnostic's `openapi.v2.Document` message, which is what
 * kubectl 1.20 requests from `/openapi/v2` (it cannot read the JSON form). Only the messages kubectl
 * reads are encoded: info, definitions and the Schema message with its vendor extensions.
 */
import { isObject, type Json, type JsonObject } from './types.js';

/** Minimal protobuf wire-format writer. */
class Writer {
  private readonly parts: Buffer[] = [];

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      bytes.push(b);
    } while (v > 0n);
    this.parts.push(Buffer.from(bytes));
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  string(field: number, value: string | undefined): void {
    if (value === undefined || value === '') return;
    const b = Buffer.from(value, 'utf8');
    this.key(field, 2);
    this.varint(b.length);
    this.parts.push(b);
  }

  bool(field: number, value: boolean | undefined): void {
    if (!value) return;
    this.key(field, 0);
    this.varint(1);
  }

  /** A bool inside a oneof: written even when false. */
  boolAlways(field: number, value: boolean): void {
    this.key(field, 0);
    this.varint(value ? 1 : 0);
  }

  int(field: number, value: number | undefined): void {
    if (value === undefined || value === 0) return;
    this.key(field, 0);
    this.varint(Math.trunc(value));
  }

  double(field: number, value: number | undefined): void {
    if (value === undefined || value === 0) return;
    this.key(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    this.parts.push(b);
  }

  message(field: number, body: Buffer): void {
    this.key(field, 2);
    this.varint(body.length);
    this.parts.push(body);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** `openapi.v2.Any`: the value as YAML text (JSON is valid YAML). */
function encodeAny(value: Json): Buffer {
  const w = new Writer();
  w.string(2, JSON.stringify(value));
  return w.finish();
}

function num(v: Json | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function encodeSchema(schema: JsonObject): Buffer {
  const w = new Writer();
  if (typeof schema.$ref === 'string') w.string(1, schema.$ref);
  if (typeof schema.format === 'string') w.string(2, schema.format);
  if (typeof schema.title === 'string') w.string(3, schema.title);
  if (typeof schema.description === 'string') w.string(4, schema.description);
  if (schema.default !== undefined) w.message(5, encodeAny(schema.default));
  w.double(6, num(schema.multipleOf));
  w.double(7, num(schema.maximum));
  w.bool(8, schema.exclusiveMaximum === true);
  w.double(9, num(schema.minimum));
  w.bool(10, schema.exclusiveMinimum === true);
  w.int(11, num(schema.maxLength));
  w.int(12, num(schema.minLength));
  if (typeof schema.pattern === 'string') w.string(13, schema.pattern);
  w.int(14, num(schema.maxItems));
  w.int(15, num(schema.minItems));
  w.bool(16, schema.uniqueItems === true);
  w.int(17, num(schema.maxProperties));
  w.int(18, num(schema.minProperties));
  if (Array.isArray(schema.required))
    for (const r of schema.required) if (typeof r === 'string') w.string(19, r);
  if (Array.isArray(schema.enum)) for (const e of schema.enum) w.message(20, encodeAny(e));
  const ap = schema.additionalProperties;
  if (isObject(ap)) {
    const item = new Writer();
    item.message(1, encodeSchema(ap));
    w.message(21, item.finish());
  } else if (typeof ap === 'boolean') {
    const item = new Writer();
    item.boolAlways(2, ap);
    w.message(21, item.finish());
  }
  if (typeof schema.type === 'string') {
    const t = new Writer();
    t.string(1, schema.type);
    w.message(22, t.finish());
  }
  if (isObject(schema.items)) {
    const items = new Writer();
    items.message(1, encodeSchema(schema.items));
    w.message(23, items.finish());
  }
  if (Array.isArray(schema.allOf))
    for (const s of schema.allOf) if (isObject(s)) w.message(24, encodeSchema(s));
  if (isObject(schema.properties)) {
    const props = new Writer();
    for (const [name, sub] of Object.entries(schema.properties)) {
      if (!isObject(sub)) continue;
      const named = new Writer();
      named.string(1, name);
      named.message(2, encodeSchema(sub));
      props.message(1, named.finish());
    }
    w.message(25, props.finish());
  }
  w.bool(27, schema.readOnly === true);
  for (const [k, v] of Object.entries(schema)) {
    if (!k.startsWith('x-') || v === undefined) continue;
    const named = new Writer();
    named.string(1, k);
    named.message(2, encodeAny(v));
    w.message(31, named.finish());
  }
  return w.finish();
}

/** Encodes `{swagger, info, definitions}` as an `openapi.v2.Document`. */
export function encodeOpenApiV2(doc: JsonObject): Buffer {
  const w = new Writer();
  w.string(1, typeof doc.swagger === 'string' ? doc.swagger : '2.0');
  if (isObject(doc.info)) {
    const info = new Writer();
    info.string(1, typeof doc.info.title === 'string' ? doc.info.title : '');
    info.string(2, typeof doc.info.version === 'string' ? doc.info.version : '');
    w.message(2, info.finish());
  }
  w.message(8, Buffer.alloc(0));
  if (isObject(doc.definitions)) {
    const defs = new Writer();
    for (const [name, schema] of Object.entries(doc.definitions)) {
      if (!isObject(schema)) continue;
      const named = new Writer();
      named.string(1, name);
      named.message(2, encodeSchema(schema));
      defs.message(1, named.finish());
    }
    w.message(9, defs.finish());
  }
  return w.finish();
}
