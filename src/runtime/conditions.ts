/**
 * Status conditions in the metav1.Condition shape. Pure functions: they return new arrays and take the
 * time as an argument (from the injected clock), so status stays a function of what was observed.
 */

import type { Condition } from '../api/conditions.js';

export type { Condition };

/** What a reconciler states about one condition; the helper fills in the transition time. */
export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** RFC 3339 at second precision, as the API server serialises metav1.Time. */
export function formatTime(t: Date): string {
  return t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The condition of `type`, if present. */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition of `type` exists with status True. */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/**
 * Sets one condition and returns the new list (input untouched). `lastTransitionTime` becomes `now` only
 * when the status changes (or the condition is new); reason, message and observedGeneration always
 * take the new values. Order of existing conditions is kept; new ones are appended.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const existing = index >= 0 ? list[index] : undefined;
  const lastTransitionTime =
    existing && existing.status === input.status ? existing.lastTransitionTime : formatTime(now);
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime,
    reason: input.reason,
    message: input.message,
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** Sets several conditions in order (see {@link setCondition}). */
export function setConditions(
  conditions: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  now: Date,
): Condition[] {
  return inputs.reduce<Condition[]>((acc, input) => setCondition(acc, input, now), [...(conditions ?? [])]);
}

/** Removes the condition of `type`; returns the new list. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
