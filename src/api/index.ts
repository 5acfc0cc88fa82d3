/**
 * The csbs.dev/v1alpha1 API: kinds, types, constants, labels, conditions, defaults, backup naming and
 * server resolution. Imports nothing else of ours, so every module may depend on it.
 */
export * from './constants.js';
export * from './labels.js';
export * from './conditions.js';
export * from './defaults.js';
export * from './types.js';
export * from './names.js';
export * from './servers.js';
export * from './quantity.js';
export * from './openapi.js';
export type { Infer, Node } from './schema-builder.js';
export * from './schemas.js';
export * from './crds.js';
