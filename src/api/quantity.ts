/**
 * Kubernetes resource quantities (`1Gi`, `500M`, `1e9`) as byte counts: one parser for the controllers
 * (volume sizes) and the sandbox's storage (requests and capacity).
 */

const binary: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const decimal: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/**
 * Parses a quantity into whole bytes, rounding a fractional result up as the apiserver does for storage.
 * Throws with the offending text when it is not a quantity.
 */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return Math.ceil(q);
  const m = /^([+]?[0-9]*\.?[0-9]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei)|([kMGTPE]?))$/.exec(q.trim());
  if (!m)
    throw new Error(
      `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': "${q}"`,
    );
  const base = Number(m[1]);
  let mult: number;
  if (m[2] !== undefined) mult = 10 ** Number(m[2].slice(1));
  else if (m[3] !== undefined) mult = binary[m[3]]!;
  else mult = decimal[m[4] ?? '']!;
  return Math.ceil(base * mult);
}

/** Formats bytes the way a provisioner reports capacity: the largest exact binary suffix. */
export function formatBytes(bytes: number): string {
  for (const [suffix, mult] of Object.entries(binary).reverse()) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${suffix}`;
  }
  return String(bytes);
}

/**
 * Bytes for people (printer columns): a binary suffix and at most three significant digits, `1.01Gi`,
 * `27.2Mi`; plain digits below 1 KiB.
 */
export function humanBytes(bytes: number): string {
  const suffixes = Object.keys(binary);
  const rounded = (v: number) => Number(v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2));
  let v = bytes;
  let i = -1;
  // Rounding may reach 1024 (1023.9Ki): then the next suffix.
  while (rounded(v) >= 1024 && i < suffixes.length - 1) {
    v /= 1024;
    i++;
  }
  return i < 0 ? String(bytes) : `${rounded(v)}${suffixes[i]}`;
}

/** Bytes of a quantity, or undefined when it is absent or not a quantity (for optional status fields). */
export function quantityBytes(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  try {
    return parseQuantity(q);
  } catch {
    return undefined;
  }
}
