// BackendTrafficPolicy's rate limits (the rest of it lands on routes and clusters).

export interface IrRateLimitClientSelector {
  /** Requests are counted per distinct value of these headers (`distinct`) or only when they match. */
  readonly headers: readonly { readonly name: string; readonly kind: "Exact" | "RegularExpression" | "Distinct"; readonly value?: string; readonly invert?: boolean }[];
  /** Source CIDR, counted as one bucket (or per source IP when `distinct`). */
  readonly sourceCidr?: { readonly cidr: string; readonly distinct: boolean };
  readonly methods?: readonly string[];
  readonly path?: { readonly kind: "Exact" | "PathPrefix" | "RegularExpression"; readonly value: string };
}

export interface IrRateLimitRule {
  /** Stable id, e.g. `<policy namespace>/<policy name>/rule/<i>`. */
  readonly id: string;
  /** All must hold for the rule to count a request; empty = every request. */
  readonly clientSelectors: readonly IrRateLimitClientSelector[];
  readonly requests: number;
  readonly unit: "Second" | "Minute" | "Hour" | "Day";
}

/** Counted in each proxy (token buckets in memory). */
export interface IrLocalRateLimit {
  readonly rules: readonly IrRateLimitRule[];
}

/** Counted across all proxies in a shared store (Redis) by the rate limit service. */
export interface IrGlobalRateLimit {
  /** Rate limit domain (one per policy). */
  readonly domain: string;
  readonly rules: readonly IrRateLimitRule[];
}
