/**
 * The full schema engine (`src/schema/`) behind the admission seam: custom resources are pruned,
 * defaulted and validated (OpenAPI + CEL) on every write, metadata is validated as the apiserver does,
 * and CRDs must carry structural schemas.
 */
import {
  admit,
  causeReason,
  formatErrorBody,
  structural,
  validateObjectMeta,
  type FieldError,
  type JSONSchemaProps,
} from '../../schema/index.js';
import type { SchemaAdmission } from './admission.js';
import type { FieldCause } from './errors.js';
import type { JsonObject, KubeObject } from './types.js';

function toCause(e: FieldError): FieldCause {
  return { reason: causeReason(e.type), field: e.field, message: formatErrorBody(e) };
}

/** Admission through `src/schema/`. */
export const SCHEMA_ADMISSION: SchemaAdmission = {
  admit(schema, obj, old) {
    const result = admit(schema as JSONSchemaProps, obj, old);
    return { object: result.object as KubeObject, causes: result.errors.map(toCause) };
  },
  validateObjectMeta: (obj, namespaced) => validateObjectMeta(obj, namespaced).map(toCause),
};

/** The structural-schema check of a CRD version's openAPIV3Schema, as field causes. */
export function structuralCauses(schema: JsonObject): FieldCause[] {
  return structural(schema as JSONSchemaProps).map(toCause);
}
