/**
 * The seam between the emulator and a schema engine: custom resources pass through `admit` (prune,
 * default, validate, CEL) on create and update, and every object's metadata through `validateObjectMeta`.
 * The default engine only checks names; `src/schema/` provides the full one.
 */
import { invalidField, requiredField, type FieldCause } from './errors.js';
import type { JsonObject, KubeObject } from './types.js';

/** What admission returns: the object to store (pruned, defaulted) and any field errors. */
export interface AdmissionResult {
  object: KubeObject;
  causes: FieldCause[];
}

/** A schema engine for custom resources. */
export interface SchemaAdmission {
  /** Prunes, defaults and validates `obj` against a CRD version's openAPIV3Schema (`old` on update). */
  admit(schema: JsonObject, obj: KubeObject, old?: KubeObject): AdmissionResult;
  /** Validates names, labels, annotations, finalizers and ownerReferences. */
  validateObjectMeta(obj: KubeObject, namespaced: boolean): FieldCause[];
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The apiserver's DNS-1123 subdomain name check, with its message. */
export function validateSubdomainName(name: string, field = 'metadata.name'): FieldCause[] {
  if (name.length > 253) return [invalidField(field, name, 'must be no more than 253 characters')];
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return [
      invalidField(
        field,
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ];
  }
  return [];
}

/** The apiserver's DNS-1123 label check (namespace names), with its message. */
export function validateLabelName(name: string, field = 'metadata.name'): FieldCause[] {
  if (name.length > 63) return [invalidField(field, name, 'must be no more than 63 characters')];
  if (!DNS1123_LABEL.test(name)) {
    return [
      invalidField(
        field,
        name,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  return [];
}

/** Metadata checks every kind gets, used when no schema engine provides them. */
export function basicObjectMetaCauses(obj: KubeObject, namespaced: boolean): FieldCause[] {
  const meta = obj.metadata;
  const causes: FieldCause[] = [];
  if (!meta.name) causes.push(requiredField('metadata.name', 'name or generateName is required'));
  else causes.push(...validateSubdomainName(meta.name));
  if (namespaced && !meta.namespace) causes.push(requiredField('metadata.namespace', ''));
  for (const [i, ref] of (meta.ownerReferences ?? []).entries()) {
    if (!ref.uid)
      causes.push(invalidField(`metadata.ownerReferences[${i}].uid`, '', 'uid must not be empty'));
    if (!ref.name)
      causes.push(invalidField(`metadata.ownerReferences[${i}].name`, '', 'name must not be empty'));
  }
  return causes;
}

/** Admission without a schema engine: objects pass unchanged, metadata gets the basic checks. */
export const PASSTHROUGH_ADMISSION: SchemaAdmission = {
  admit: (_schema, obj) => ({ object: obj, causes: [] }),
  validateObjectMeta: basicObjectMetaCauses,
};
