/**
 * Our small controller-runtime over @kubernetes/client-node: import what a reconciler needs from here.
 */
export * from './clock.js';
export * from './client.js';
export * from './conditions.js';
export * from './equality.js';
export * from './errors.js';
export * from './events.js';
export * from './finalizers.js';
export * from './kinds.js';
export * from './logging.js';
export * from './metrics.js';
export * from './reconciler.js';
