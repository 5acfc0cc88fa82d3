/**
 * `x-kubernetes-validations` (CEL) evaluation as kube-apiserver does it for custom resources, using
 * @bufbuild/cel. Rules run on every non-null value whose schema carries them, with `self` bound to that
 * value (typed by the schema: integers are CEL ints, numbers doubles, objects maps). Transition rules
 * (those that mention `oldSelf`) run only on update and only where an old value correlates: same
 * property of an object, same key of a map, same map-keys of an `x-kubernetes-list-type: map` item.
 */
import { celEnv, isCelError, parse, plan, type CelError, type CelInput, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { childPath, fieldError, indexPath, type FieldError } from './errors.js';
import {
  isObject,
  itemsOf,
  jsonEqual,
  propertyOf,
  type JSONSchemaProps,
  type ValidationRule,
} from './props.js';

type Program = (ctx: Record<string, CelInput>) => CelResult;

/** A rule ready to run, or the reason it cannot. */
interface CompiledRule {
  program?: Program;
  messageProgram?: Program;
  compileError?: string;
  usesOldSelf: boolean;
}

const env = celEnv({ funcs: strings });
const cache = new Map<string, { program?: Program; error?: string }>();

function compileExpression(expr: string): { program?: Program; error?: string } {
  let c = cache.get(expr);
  if (!c) {
    try {
      const run = plan(env, parse(expr));
      c = { program: (ctx) => run(ctx) };
    } catch (e) {
      c = { error: e instanceof Error ? e.message : String(e) };
    }
    cache.set(expr, c);
  }
  return c;
}

/** Whether an expression mentions `oldSelf` outside string literals. */
export function usesOldSelf(expr: string): boolean {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return /\boldSelf\b/.test(noStrings);
}

/** Compiles a rule (cached): the parse error of the rule or of its messageExpression, if any. */
export function compileRule(rule: ValidationRule): CompiledRule {
  const r = compileExpression(rule.rule);
  const out: CompiledRule = { usesOldSelf: usesOldSelf(rule.rule) };
  if (r.error) {
    out.compileError = r.error;
    return out;
  }
  out.program = r.program;
  if (rule.messageExpression) {
    const m = compileExpression(rule.messageExpression);
    if (m.error) out.compileError = `messageExpression compile error: ${m.error}`;
    else out.messageProgram = m.program;
  }
  return out;
}

/** A JSON value as the CEL value the apiserver would bind for schema `s`. */
export function toCel(v: unknown, s: JSONSchemaProps | undefined): CelInput {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    const integer = s?.type === 'integer' || (s?.type !== 'number' && Number.isInteger(v));
    return integer && Number.isInteger(v) ? BigInt(v) : v;
  }
  if (Array.isArray(v)) {
    const items = itemsOf(s);
    return v.map((x) => toCel(x, items));
  }
  if (isObject(v)) {
    const m = new Map<string, CelInput>();
    for (const [k, x] of Object.entries(v)) m.set(k, toCel(x, propertyOf(s, k)));
    return m;
  }
  return null;
}

/**
 * Evaluates every CEL rule of `schema` over `obj` (and, for transition rules, `oldObj`). `path` is the
 * field path of `obj` ('' for a whole object).
 */
export function validateRules(
  obj: unknown,
  schema: JSONSchemaProps | undefined,
  oldObj?: unknown,
  path = '',
): FieldError[] {
  const errors: FieldError[] = [];
  walk(obj, schema, oldObj, path, errors);
  return errors;
}

function walk(
  v: unknown,
  s: JSONSchemaProps | undefined,
  old: unknown,
  path: string,
  errors: FieldError[],
): void {
  if (!s || v === null || v === undefined) return;
  const rules = s['x-kubernetes-validations'];
  if (rules?.length) evaluate(v, s, old, path, rules, errors);

  if (isObject(v)) {
    const oldMap = isObject(old) ? old : undefined;
    for (const [k, x] of Object.entries(v)) {
      walk(x, propertyOf(s, k), oldMap?.[k], childPath(path, k), errors);
    }
  } else if (Array.isArray(v)) {
    const items = itemsOf(s);
    const oldItems = Array.isArray(old) && s['x-kubernetes-list-type'] === 'map' ? old : undefined;
    const keys = s['x-kubernetes-list-map-keys'] ?? [];
    v.forEach((x, i) => {
      const match = oldItems?.find(
        (o) => isObject(o) && isObject(x) && keys.every((k) => jsonEqual(o[k], x[k])),
      );
      walk(x, items, match, indexPath(path, i), errors);
    });
  }
}

function typeName(s: JSONSchemaProps): string {
  return s.type ?? '';
}

function evaluate(
  v: unknown,
  s: JSONSchemaProps,
  old: unknown,
  path: string,
  rules: ValidationRule[],
  errors: FieldError[],
): void {
  const hasOld = old !== undefined && old !== null;
  const ctx: Record<string, CelInput> = { self: toCel(v, s) };
  if (hasOld) ctx.oldSelf = toCel(old, s);
  for (const rule of rules) {
    const c = compileRule(rule);
    if (c.compileError) {
      errors.push(fieldError.invalid(path, typeName(s), `rule compile error: ${c.compileError}`));
      continue;
    }
    if (c.usesOldSelf && !hasOld) continue; // transition rules only run against an existing old value
    const result = c.program!(ctx);
    if (isCelError(result)) {
      errors.push(
        fieldError.invalid(
          path,
          typeName(s),
          `${celMessage(result)} evaluating rule: ${ruleErrorString(rule)}`,
        ),
      );
      continue;
    }
    if (result === true) continue;
    if (typeof result !== 'boolean') {
      errors.push(
        fieldError.invalid(path, typeName(s), `rule did not evaluate to a bool: ${ruleErrorString(rule)}`),
      );
      continue;
    }
    let detail = rule.message?.trim() || `failed rule: ${rule.rule.trim()}`;
    if (c.messageProgram) {
      const m = c.messageProgram(ctx);
      if (typeof m === 'string' && m.trim() !== '' && !/\n/.test(m.trim()) && m.trim().length <= 5000)
        detail = m.trim();
    }
    const at = rule.fieldPath ? joinFieldPath(path, rule.fieldPath) : path;
    // Objects and arrays are not printed as the bad value, scalars are.
    const value = s.type === 'object' || s.type === 'array' ? undefined : v;
    errors.push(errorForReason(rule.reason, at, value, detail));
  }
}

function errorForReason(
  reason: ValidationRule['reason'],
  path: string,
  value: unknown,
  detail: string,
): FieldError {
  switch (reason) {
    case 'FieldValueForbidden':
      return fieldError.forbidden(path, detail);
    case 'FieldValueRequired':
      return fieldError.required(path, detail);
    case 'FieldValueDuplicate':
      return value === undefined
        ? { type: 'Duplicate', field: path, detail: '' }
        : fieldError.duplicate(path, value);
    default:
      return value === undefined
        ? { type: 'Invalid', field: path, detail }
        : fieldError.invalid(path, value, detail);
  }
}

function ruleErrorString(rule: ValidationRule): string {
  return rule.message?.trim() || rule.rule.trim();
}

function celMessage(e: CelError): string {
  return e.message;
}

/** Appends a rule's relative JSONPath (`.a.b`, `['k']`) to a field path: `spec` + `.a['k']` = `spec.a[k]`. */
export function joinFieldPath(base: string, jsonPath: string): string {
  let out = base;
  const re = /\.([^.[\]]+)|\['((?:[^'\\]|\\.)*)'\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(jsonPath)) !== null) {
    if (m[1] !== undefined) out = childPath(out, m[1]);
    else out = `${out}[${(m[2] ?? '').replace(/\\(.)/g, '$1')}]`;
  }
  return out;
}
