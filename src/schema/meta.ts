/**
 * ObjectMeta validation of a custom resource, as kube-apiserver's ValidateObjectMetaAccessor does it:
 * name (DNS-1123 subdomain) or generateName, namespace, labels, annotations, finalizers, owner refs.
 */
import { fieldError, type FieldError } from './errors.js';
import { isObject } from './props.js';

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const QUALIFIED_NAME = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE = '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?';

const subdomainMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" +
  DNS1123_SUBDOMAIN +
  "')";
const labelMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" +
  DNS1123_LABEL +
  "')";

/** Problems with `v` as a DNS-1123 subdomain (empty list = valid). */
export function isDNS1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 253) errs.push('must be no more than 253 characters');
  if (!new RegExp(`^${DNS1123_SUBDOMAIN}$`).test(v)) errs.push(subdomainMsg);
  return errs;
}

/** Problems with `v` as a DNS-1123 label (empty list = valid). */
export function isDNS1123Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push('must be no more than 63 characters');
  if (!new RegExp(`^${DNS1123_LABEL}$`).test(v)) errs.push(labelMsg);
  return errs;
}

/** Problems with `v` as a qualified name (`[prefix/]name`), the form of label and annotation keys. */
export function isQualifiedName(v: string): string[] {
  const errs: string[] = [];
  const parts = v.split('/');
  let name = v;
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const m of isDNS1123Subdomain(prefix)) errs.push(`prefix part ${m}`);
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
        QUALIFIED_NAME +
        "') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length && !new RegExp(`^${QUALIFIED_NAME}$`).test(name)) {
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
        QUALIFIED_NAME +
        "')",
    );
  }
  return errs;
}

/** Problems with `v` as a label value. */
export function isLabelValue(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push('must be no more than 63 characters');
  if (!new RegExp(`^${LABEL_VALUE}$`).test(v)) {
    errs.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '" +
        LABEL_VALUE +
        "')",
    );
  }
  return errs;
}

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/**
 * Validates `obj.metadata` of a custom resource. A namespaced object without a namespace passes (the
 * server fills it in from the request path); a cluster-scoped one with a namespace does not.
 */
export function validateObjectMeta(obj: unknown, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const meta = isObject(obj) ? obj.metadata : undefined;
  if (!isObject(meta)) return [fieldError.required('metadata', '')];

  const name = meta.name;
  const generateName = meta.generateName;
  if (typeof generateName === 'string' && generateName !== '') {
    // generateName gets a random suffix, so a trailing '-' is fine.
    for (const m of isDNS1123Subdomain(generateName.replace(/-+$/, '') || 'a')) {
      errs.push(fieldError.invalid('metadata.generateName', generateName, m));
    }
  }
  if (typeof name !== 'string' || name === '') {
    if (typeof generateName !== 'string' || generateName === '') {
      errs.push(fieldError.required('metadata.name', 'name or generateName is required'));
    }
  } else {
    for (const m of isDNS1123Subdomain(name)) errs.push(fieldError.invalid('metadata.name', name, m));
  }

  const ns = meta.namespace;
  if (namespaced) {
    if (typeof ns === 'string' && ns !== '') {
      for (const m of isDNS1123Label(ns)) errs.push(fieldError.invalid('metadata.namespace', ns, m));
    }
  } else if (typeof ns === 'string' && ns !== '') {
    errs.push(fieldError.forbidden('metadata.namespace', 'not allowed on this type'));
  }

  if (meta.labels !== undefined) {
    if (!isObject(meta.labels))
      errs.push(fieldError.invalid('metadata.labels', meta.labels, 'must be a map of strings'));
    else {
      for (const [k, v] of Object.entries(meta.labels)) {
        for (const m of isQualifiedName(k)) errs.push(fieldError.invalid('metadata.labels', k, m));
        if (typeof v !== 'string')
          errs.push(fieldError.invalid(`metadata.labels`, v, 'label values must be strings'));
        else for (const m of isLabelValue(v)) errs.push(fieldError.invalid('metadata.labels', v, m));
      }
    }
  }

  if (meta.annotations !== undefined) {
    if (!isObject(meta.annotations)) {
      errs.push(fieldError.invalid('metadata.annotations', meta.annotations, 'must be a map of strings'));
    } else {
      let size = 0;
      for (const [k, v] of Object.entries(meta.annotations)) {
        for (const m of isQualifiedName(k.toLowerCase()))
          errs.push(fieldError.invalid('metadata.annotations', k, m));
        if (typeof v !== 'string')
          errs.push(fieldError.invalid('metadata.annotations', v, 'annotation values must be strings'));
        size += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
      }
      if (size > TOTAL_ANNOTATION_SIZE_LIMIT) {
        errs.push({
          type: 'TooLong',
          field: 'metadata.annotations',
          value: '',
          detail: `must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`,
        });
      }
    }
  }

  if (meta.finalizers !== undefined) {
    if (!Array.isArray(meta.finalizers)) {
      errs.push(fieldError.invalid('metadata.finalizers', meta.finalizers, 'must be a list of strings'));
    } else {
      meta.finalizers.forEach((f: unknown, i) => {
        const at = `metadata.finalizers[${i}]`;
        if (typeof f !== 'string') errs.push(fieldError.invalid(at, f, 'must be a string'));
        else for (const m of isQualifiedName(f)) errs.push(fieldError.invalid(at, f, m));
      });
    }
  }

  if (Array.isArray(meta.ownerReferences)) {
    meta.ownerReferences.forEach((ref: unknown, i) => {
      const at = `metadata.ownerReferences[${i}]`;
      const r = isObject(ref) ? ref : {};
      for (const k of ['apiVersion', 'kind', 'name', 'uid']) {
        if (typeof r[k] !== 'string' || r[k] === '')
          errs.push(fieldError.invalid(`${at}.${k}`, r[k] ?? '', `${k} must not be empty`));
      }
    });
  }
  return errs;
}
