/**
 * Structural defaulting as kube-apiserver applies it: a property with a `default` that is absent (or
 * null and not nullable) gets a copy of the default, then defaulting recurses into every present value,
 * including the defaults just inserted. Defaults of properties under an absent parent do not apply.
 */
import { deepCopy, isObject, itemsOf, type JSONSchemaProps } from './props.js';

/** Applies the schema's defaults to `x` in place. */
export function applyDefaults(x: unknown, s: JSONSchemaProps | undefined): void {
  if (!s) return;
  if (Array.isArray(x)) {
    const items = itemsOf(s);
    for (const v of x) applyDefaults(v, items);
    return;
  }
  if (!isObject(x)) return;
  for (const [k, prop] of Object.entries(s.properties ?? {})) {
    if (prop.default === undefined) continue;
    if (!(k in x) || (x[k] === null && !prop.nullable)) x[k] = deepCopy(prop.default);
  }
  for (const [k, v] of Object.entries(x)) {
    const prop = s.properties?.[k];
    if (prop) applyDefaults(v, prop);
    else if (typeof s.additionalProperties === 'object') applyDefaults(v, s.additionalProperties);
  }
}
