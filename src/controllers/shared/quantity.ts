/** Kubernetes resource quantities (`16Mi`, `1G`, `1073741824`) as byte counts. */
const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a quantity, or undefined when it is not one. */
export function quantityBytes(q: string | number | undefined): number | undefined {
  if (typeof q === 'number') return q;
  const m = /^\s*(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|)\s*$/.exec(q ?? '');
  if (!m) return undefined;
  const mult = SUFFIX[m[2]];
  return mult === undefined ? undefined : Math.ceil(Number(m[1]) * mult);
}
