/** Fault injection: make the next N matching requests fail with a given HTTP code. */

/** A rule for `failNext`. */
export interface FaultRule {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Matched against the request path plus query string. */
  path: RegExp;
  /** How many matching requests fail (default 1). */
  count?: number;
  /** HTTP code of the Status answered (default 500). */
  code?: number;
  /** Status message (a generic one when omitted). */
  message?: string;
}

interface ActiveRule {
  method?: string;
  path: RegExp;
  remaining: number;
  code: number;
  message?: string;
}

/** The queue of pending fault rules, consumed by matching requests in order. */
export class Faults {
  private rules: ActiveRule[] = [];

  /** Adds a rule. */
  failNext(rule: FaultRule): void {
    const active: ActiveRule = { path: rule.path, remaining: rule.count ?? 1, code: rule.code ?? 500 };
    if (rule.method) active.method = rule.method.toUpperCase();
    if (rule.message) active.message = rule.message;
    this.rules.push(active);
  }

  /** The fault to answer this request with, if any (consuming one count). */
  take(method: string, pathAndQuery: string): { code: number; message?: string } | undefined {
    for (const rule of this.rules) {
      if (rule.method && rule.method !== method) continue;
      rule.path.lastIndex = 0;
      if (!rule.path.test(pathAndQuery)) continue;
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
      return rule.message ? { code: rule.code, message: rule.message } : { code: rule.code };
    }
    return undefined;
  }

  /** Forgets every pending rule. */
  clear(): void {
    this.rules = [];
  }
}
