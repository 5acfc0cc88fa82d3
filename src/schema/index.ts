/**
 * The schema engine: structural OpenAPI v3 validation, pruning, defaulting and CEL rules of CRDs, as
 * kube-apiserver applies them. Used by the sandbox apiserver on every write of a custom resource and by
 * `csbs validate` offline, so both answer exactly alike.
 */
export { admit, hasRules, RULES_NOT_CHECKED, type AdmitResult } from './admit.js';
export {
  aggregateMessage,
  causeReason,
  fieldError,
  formatErrorBody,
  formatFieldError,
  formatValue,
  invalidMessage,
  type FieldError,
  type FieldErrorType,
} from './errors.js';
export {
  isDNS1123Label,
  isDNS1123Subdomain,
  isLabelValue,
  isQualifiedName,
  validateObjectMeta,
} from './meta.js';
export { structural, undocumentedFields } from './structural.js';
export { prune, pruneNonNullableNulls } from './prune.js';
export { applyDefaults } from './defaults.js';
export { validateValue } from './validate.js';
export { validateRules, toCel } from './cel.js';
export type { JSONSchemaProps, ValidationRule } from './props.js';
export {
  checkBackupPolicySpec,
  checkBackupRepositorySpec,
  cronProblem,
  isTimeZone,
  semanticChecks,
  timesOfDay,
} from './semantic.js';
