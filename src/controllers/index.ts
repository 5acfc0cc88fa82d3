/**
 * The reconcilers `csbs controller` runs, in registration order. Each kind's folder exports its
 * Reconciler; add it here.
 */
import type { Reconciler } from '../runtime/reconciler.js';

/** Every controller of the operator. */
export const reconcilers: Reconciler[] = [];
