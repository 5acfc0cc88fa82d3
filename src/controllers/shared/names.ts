/**
 * Deterministic names for the children of a Backup or Restore. A retried create of the same child
 * hits AlreadyExists instead of making a duplicate, and a restarted controller finds its work again.
 */
import { createHash } from 'node:crypto';

/** Longest name usable as a label value, a Job name (its pods carry it as a label) or a container name. */
export const maxLabelLength = 63;

/** A short stable hash of `text`, for names that would otherwise be too long or ambiguous. */
export function shortHash(text: string, length = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Lowercases and replaces everything outside DNS-1123 label characters, trimming stray dashes. */
export function dnsLabelish(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * `<parent>-<suffix>` as a DNS-1123 label of at most 63 characters. When it would be longer, the
 * parent is cut and a hash of the full name keeps different parents apart.
 */
export function childName(parent: string, suffix: string): string {
  const full = dnsLabelish(`${parent}-${suffix}`);
  if (full.length <= maxLabelLength) return full;
  const hash = shortHash(full);
  const room = maxLabelLength - suffix.length - hash.length - 2;
  const head = dnsLabelish(parent.slice(0, Math.max(room, 1)));
  return dnsLabelish(`${head}-${hash}-${suffix}`).slice(0, maxLabelLength);
}

/** A name usable as a label value: itself when short enough, else cut with a hash suffix. */
export function labelValue(text: string): string {
  if (text.length <= maxLabelLength) return text;
  return `${text.slice(0, maxLabelLength - 9).replace(/[^A-Za-z0-9]+$/, '')}-${shortHash(text)}`;
}
