/**
 * `/openapi/v2`: the definitions kubectl reads for `explain`, client-side validation and apply.
 * Custom resources are published as the apiextensions-apiserver publishes them: the structural schema
 * converted to v2 (junctors and CEL rules dropped; nullable, preserve-unknown-fields and untyped
 * arrays loosened so kubectl does not reject valid objects), metadata as a $ref to ObjectMeta, and an
 * `x-kubernetes-group-version-kind` extension. Built-in kinds are published as open (arbitrary) models
 * with their group-version-kind, so kubectl validates nothing it cannot know and falls back to its own
 * types for strategic merge patches.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeOpenApiV2 } from './protobuf.js';
import { SERVER_VERSION } from './discovery.js';
import type { ResourceDefinition, ResourceRegistry } from './resources.js';
import { clone, isObject, type Json, type JsonObject } from './types.js';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const OBJECT_META_REF = `#/definitions/${META}.ObjectMeta`;
const LIST_META_REF = `#/definitions/${META}.ListMeta`;

/** Content type kubectl asks for (`Accept`); the answer is labelled octet-stream as kube-openapi does,
 * since Go's media-type parser rejects the `@` of the requested type. */
export const OPENAPI_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

const str = (description: string): JsonObject => ({ type: 'string', description });
const int = (description: string): JsonObject => ({ type: 'integer', format: 'int64', description });
const strMap = (description: string): JsonObject => ({
  type: 'object',
  additionalProperties: { type: 'string' },
  description,
});
const strList = (description: string): JsonObject => ({
  type: 'array',
  items: { type: 'string' },
  description,
});
const time = (description: string): JsonObject => ({ $ref: `#/definitions/${META}.Time`, description });

/** The meta/v1 definitions every kind refers to. */
function metaDefinitions(): JsonObject {
  return {
    [`${META}.Time`]: {
      type: 'string',
      format: 'date-time',
      description: 'Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.',
    },
    [`${META}.FieldsV1`]: {
      type: 'object',
      description: 'FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.',
    },
    [`${META}.ManagedFieldsEntry`]: {
      type: 'object',
      description:
        'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.',
      properties: {
        apiVersion: str('APIVersion defines the version of this resource that this field set applies to.'),
        fieldsType: str('FieldsType is the discriminator for the different fields format and version.'),
        fieldsV1: {
          $ref: `#/definitions/${META}.FieldsV1`,
          description: 'FieldsV1 holds the first JSON version format.',
        },
        manager: str('Manager is an identifier of the workflow managing these fields.'),
        operation: str(
          'Operation is the type of operation which lead to this ManagedFieldsEntry being created.',
        ),
        subresource: str('Subresource is the name of the subresource used to update that object.'),
        time: time('Time is the timestamp of when the ManagedFields entry was added.'),
      },
    },
    [`${META}.OwnerReference`]: {
      type: 'object',
      description: 'OwnerReference contains enough information to let you identify an owning object.',
      required: ['apiVersion', 'kind', 'name', 'uid'],
      properties: {
        apiVersion: str('API version of the referent.'),
        blockOwnerDeletion: {
          type: 'boolean',
          description:
            'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.',
        },
        controller: {
          type: 'boolean',
          description: 'If true, this reference points to the managing controller.',
        },
        kind: str('Kind of the referent.'),
        name: str('Name of the referent.'),
        uid: str('UID of the referent.'),
      },
    },
    [`${META}.ListMeta`]: {
      type: 'object',
      description:
        'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.',
      properties: {
        continue: str('continue may be set if the user set a limit on the number of items returned.'),
        remainingItemCount: int(
          'remainingItemCount is the number of subsequent items in the list which are not included in this list response.',
        ),
        resourceVersion: str("String that identifies the server's internal version of this object."),
        selfLink: str(
          'Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.',
        ),
      },
    },
    [`${META}.ObjectMeta`]: {
      type: 'object',
      description:
        'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
      properties: {
        annotations: strMap(
          'Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.',
        ),
        clusterName: str('The name of the cluster which the object belongs to.'),
        creationTimestamp: time(
          'CreationTimestamp is a timestamp representing the server time when this object was created.',
        ),
        deletionGracePeriodSeconds: int(
          'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.',
        ),
        deletionTimestamp: time(
          'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.',
        ),
        finalizers: {
          ...strList('Must be empty before the object is deleted from the registry.'),
          'x-kubernetes-patch-strategy': 'merge',
        },
        generateName: str(
          'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.',
        ),
        generation: int('A sequence number representing a specific generation of the desired state.'),
        labels: strMap(
          'Map of string keys and values that can be used to organize and categorize (scope and select) objects.',
        ),
        managedFields: {
          type: 'array',
          items: { $ref: `#/definitions/${META}.ManagedFieldsEntry` },
          description:
            'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.',
        },
        name: str('Name must be unique within a namespace.'),
        namespace: str('Namespace defines the space within which each name must be unique.'),
        ownerReferences: {
          type: 'array',
          items: { $ref: `#/definitions/${META}.OwnerReference` },
          description: 'List of objects depended by this object.',
          'x-kubernetes-patch-merge-key': 'uid',
          'x-kubernetes-patch-strategy': 'merge',
        },
        resourceVersion: str(
          'An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed.',
        ),
        selfLink: str(
          'Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.',
        ),
        uid: str('UID is the unique in time and space value for this object.'),
      },
    },
  };
}

/** Reverse-domain prefix of a group (`csbs.dev` -> `dev.csbs`), as CRD definitions are named. */
function reverseDomain(group: string): string {
  return group.split('.').reverse().join('.');
}

/** Go package path of a built-in group, for its definition names. */
function builtinPrefix(group: string, version: string): string {
  if (group === '') return `io.k8s.api.core.${version}`;
  if (group === 'apiextensions.k8s.io')
    return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${version}`;
  const short = group
    .replace(/\.k8s\.io$/, '')
    .replace(/\.authorization$/, '')
    .replace(/\./g, '');
  return `io.k8s.api.${short}.${version}`;
}

/** ToStructuralOpenAPIV2: the v3 CRD schema made safe for kubectl's v2 models. */
export function toV2(schema: Json): Json {
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(schema)) {
    if (v === undefined) continue;
    if (['allOf', 'oneOf', 'anyOf', 'not', 'nullable', 'default', 'x-kubernetes-validations'].includes(k))
      continue;
    if (k === 'properties' && isObject(v)) {
      const props: JsonObject = {};
      for (const [name, sub] of Object.entries(v)) if (sub !== undefined) props[name] = toV2(sub);
      out.properties = props;
    } else if ((k === 'items' || k === 'additionalProperties') && isObject(v)) {
      out[k] = toV2(v);
    } else out[k] = clone(v);
  }
  if (schema.nullable === true || schema['x-kubernetes-preserve-unknown-fields'] === true) {
    if (schema.nullable === true) delete out.type;
    delete out.items;
    delete out.properties;
  }
  if (out.type === 'array' && out.items === undefined) delete out.type;
  if (isObject(out.properties) && Array.isArray(out.required)) {
    const props = schema.properties;
    const nullable = (name: string): boolean => {
      const sub = isObject(props) ? props[name] : undefined;
      return isObject(sub) && sub.nullable === true;
    };
    out.required = out.required.filter((r) => !nullable(String(r)));
    if ((out.required as Json[]).length === 0) delete out.required;
  }
  return out;
}

function customDefinitions(def: ResourceDefinition, defs: JsonObject): void {
  for (const v of def.versions) {
    const gvk = [{ group: def.group, kind: def.kind, version: v.name }];
    const base = isObject(v.schema) ? (toV2(v.schema) as JsonObject) : { type: 'object' };
    const props = isObject(base.properties) ? base.properties : {};
    base.properties = {
      ...props,
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: { $ref: OBJECT_META_REF, description: "Standard object's metadata." },
    };
    base.type = 'object';
    delete base['x-kubernetes-preserve-unknown-fields'];
    base['x-kubernetes-group-version-kind'] = gvk;
    const prefix = `${reverseDomain(def.group)}.${v.name}`;
    defs[`${prefix}.${def.kind}`] = base;
    defs[`${prefix}.${def.listKind}`] = {
      type: 'object',
      description: `${def.listKind} is a list of ${def.kind}`,
      required: ['items'],
      properties: {
        apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
        items: {
          type: 'array',
          items: { $ref: `#/definitions/${prefix}.${def.kind}` },
          description: `List of ${def.plural}.`,
        },
        kind: str('Kind is a string value representing the REST resource this object represents.'),
        metadata: { $ref: LIST_META_REF, description: 'Standard list metadata.' },
      },
      'x-kubernetes-group-version-kind': [{ group: def.group, kind: def.listKind, version: v.name }],
    };
  }
}

function builtinDefinitions(def: ResourceDefinition, defs: JsonObject): void {
  for (const v of def.versions) {
    // No type and no properties: an arbitrary model, so kubectl accepts every field of the real type.
    defs[`${builtinPrefix(def.group, v.name)}.${def.kind}`] = {
      description: `${def.kind} (${def.group || 'core'}/${v.name}), served by the csbs sandbox.`,
      'x-kubernetes-group-version-kind': [{ group: def.group, kind: def.kind, version: v.name }],
    };
  }
}

/** The OpenAPI v2 document of everything currently served, cached until the registry changes. */
export class OpenApi {
  private json: Buffer | undefined;
  private proto: Buffer | undefined;

  constructor(private readonly registry: ResourceRegistry) {
    registry.onChange(() => {
      this.json = undefined;
      this.proto = undefined;
    });
  }

  /** The document as JSON data. */
  document(): JsonObject {
    const definitions: JsonObject = metaDefinitions();
    for (const def of this.registry.all()) {
      if (def.custom) customDefinitions(def, definitions);
      else builtinDefinitions(def, definitions);
    }
    return {
      swagger: '2.0',
      info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion },
      paths: {},
      definitions,
    };
  }

  /** Answers `/openapi/v2` in protobuf when asked for it (kubectl), JSON otherwise. */
  serveV2(req: IncomingMessage, res: ServerResponse): void {
    const accept = req.headers.accept ?? '';
    if (accept.includes('protobuf')) {
      this.proto ??= encodeOpenApiV2(this.document());
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': this.proto.length });
      res.end(this.proto);
      return;
    }
    this.json ??= Buffer.from(JSON.stringify(this.document()));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': this.json.length });
    res.end(this.json);
  }
}
