/**
 * CustomResourceDefinitions: their validation, the resource definition each one serves, and the status
 * the apiextensions controllers would write (NamesAccepted, Established). Deleting a CRD removes its
 * custom resources first (the `customresourcecleanup` finalizer), as a real server does.
 */
import { invalidField, requiredField, type FieldCause } from './errors.js';
import {
  RESOURCE_VERBS,
  sortVersions,
  type PrinterColumn,
  type ResourceDefinition,
  type ServedVersion,
} from './resources.js';
import { isObject, type Json, type JsonObject, type KubeObject } from './types.js';

/** Finalizer that makes a CRD's deletion remove its custom resources first. */
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

/** Storage key of the CRD resource itself. */
export const CRD_RESOURCE = 'apiextensions.k8s.io/customresourcedefinitions';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: JsonObject;
  printerColumns?: PrinterColumn[];
  status: boolean;
}

function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

function strings(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function versionsOf(spec: JsonObject): CrdVersion[] {
  const raw = Array.isArray(spec.versions) ? spec.versions : [];
  return raw.filter(isObject).map((v) => {
    const schema =
      isObject(v.schema) && isObject(v.schema.openAPIV3Schema) ? v.schema.openAPIV3Schema : undefined;
    const columns = Array.isArray(v.additionalPrinterColumns)
      ? v.additionalPrinterColumns.filter(isObject).map((c): PrinterColumn => ({
          name: str(c.name),
          type: str(c.type),
          jsonPath: str(c.jsonPath),
          ...(typeof c.format === 'string' ? { format: c.format } : {}),
          ...(typeof c.description === 'string' ? { description: c.description } : {}),
          ...(typeof c.priority === 'number' ? { priority: c.priority } : {}),
        }))
      : undefined;
    const out: CrdVersion = {
      name: str(v.name),
      served: v.served === true,
      storage: v.storage === true,
      status: isObject(v.subresources) && isObject(v.subresources.status),
    };
    if (schema) out.schema = schema;
    if (columns) out.printerColumns = columns;
    return out;
  });
}

/** The 422 causes of an invalid CRD (the checks clients trip over most; structural checks come from the schema engine). */
export function validateCrd(
  obj: KubeObject,
  structural?: (schema: JsonObject) => FieldCause[],
): FieldCause[] {
  const causes: FieldCause[] = [];
  const spec = isObject(obj.spec) ? obj.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const group = str(spec.group);
  const plural = str(names.plural);
  if (!group) causes.push(requiredField('spec.group', ''));
  if (!plural) causes.push(requiredField('spec.names.plural', ''));
  if (!str(names.kind)) causes.push(requiredField('spec.names.kind', ''));
  if (group && plural && obj.metadata.name !== `${plural}.${group}`) {
    causes.push(
      invalidField('metadata.name', obj.metadata.name ?? '', 'must be spec.names.plural+"."+spec.group'),
    );
  }
  const scope = str(spec.scope);
  if (scope !== 'Namespaced' && scope !== 'Cluster') {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.scope',
      message: `Unsupported value: ${JSON.stringify(scope)}: supported values: "Cluster", "Namespaced"`,
    });
  }
  const versions = versionsOf(spec);
  if (versions.length === 0)
    causes.push(invalidField('spec.versions', [], 'must have exactly one version marked as storage version'));
  else if (versions.filter((v) => v.storage).length !== 1) {
    causes.push(
      invalidField(
        'spec.versions',
        versions.map((v) => v.name),
        'must have exactly one version marked as storage version',
      ),
    );
  }
  versions.forEach((v, i) => {
    if (!v.schema)
      causes.push(requiredField(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'));
    else if (structural) {
      for (const c of structural(v.schema)) {
        causes.push({
          ...c,
          field: `spec.versions[${i}].schema.openAPIV3Schema${c.field ? `.${c.field}` : ''}`,
        });
      }
    }
  });
  return causes;
}

/** Status a real server's apiextensions controllers converge a new CRD to. */
export function crdStatus(obj: KubeObject): JsonObject {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const names = isObject(spec.names) ? { ...spec.names } : {};
  if (!names.singular && typeof names.kind === 'string') names.singular = names.kind.toLowerCase();
  if (!names.listKind && typeof names.kind === 'string') names.listKind = `${names.kind}List`;
  const time = obj.metadata.creationTimestamp ?? new Date().toISOString();
  const storage = versionsOf(spec).find((v) => v.storage)?.name;
  return {
    conditions: [
      {
        type: 'NamesAccepted',
        status: 'True',
        lastTransitionTime: time,
        reason: 'NoConflicts',
        message: 'no conflicts found',
      },
      {
        type: 'Established',
        status: 'True',
        lastTransitionTime: time,
        reason: 'InitialNamesAccepted',
        message: 'the initial names have been accepted',
      },
    ],
    acceptedNames: names,
    storedVersions: storage ? [storage] : [],
  };
}

/** The resource a CRD serves, or undefined while it is invalid. */
export function definitionFromCrd(obj: KubeObject): ResourceDefinition | undefined {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const versions = versionsOf(spec);
  const storage = versions.find((v) => v.storage);
  const served = versions.filter((v) => v.served);
  const kind = str(names.kind);
  const plural = str(names.plural);
  if (!storage || served.length === 0 || !kind || !plural) return undefined;
  const order = sortVersions(served.map((v) => v.name));
  const servedVersions: ServedVersion[] = order.map((name) => {
    const v = served.find((s) => s.name === name)!;
    const out: ServedVersion = { name };
    if (v.schema) out.schema = v.schema;
    if (v.printerColumns) out.printerColumns = v.printerColumns;
    return out;
  });
  return {
    group: str(spec.group),
    kind,
    listKind: str(names.listKind) || `${kind}List`,
    plural,
    singular: str(names.singular) || kind.toLowerCase(),
    namespaced: spec.scope !== 'Cluster',
    shortNames: strings(names.shortNames),
    categories: strings(names.categories),
    versions: servedVersions,
    storageVersion: storage.name,
    statusSubresource: storage.status,
    custom: true,
    defaultPropagation: 'Background',
    crdName: obj.metadata.name ?? '',
  };
}

/** Verbs a CRD's resource is served with. */
export const CRD_VERBS = RESOURCE_VERBS;
