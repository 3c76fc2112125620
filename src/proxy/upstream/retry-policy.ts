// RetryPolicy (as the route gives it) -> flags checked per attempt. Compiled once per
// policy object and cached, so a retry decision is a few bit tests.

import type { RetryPolicy } from "../contracts.js";

export const RETRY_ON = {
  "connect-failure": 1,
  reset: 2,
  "5xx": 4,
  "gateway-error": 8,
  "retriable-status-codes": 16,
  "refused-stream": 32,
  "retriable-4xx": 64,
} as const;

export type RetryCondition = keyof typeof RETRY_ON;

export interface CompiledRetry {
  readonly flags: number;
  readonly numRetries: number;
  readonly perTryTimeoutMs: number;
  readonly statusCodes: ReadonlySet<number>;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** The retry conditions this proxy implements; the router can refuse a route asking for others. */
export function unsupportedRetryConditions(retryOn: readonly string[]): string[] {
  return retryOn.filter((c) => !(c in RETRY_ON));
}

const cache = new WeakMap<RetryPolicy, CompiledRetry>();

export function compileRetry(p: RetryPolicy): CompiledRetry {
  let c = cache.get(p);
  if (c) return c;
  let flags = 0;
  for (const cond of p.retryOn) flags |= (RETRY_ON as Record<string, number>)[cond] ?? 0;
  const base = p.backoffBaseMs > 0 ? p.backoffBaseMs : 25;
  c = {
    flags,
    numRetries: Math.max(0, p.numRetries),
    perTryTimeoutMs: p.perTryTimeoutMs ?? 0,
    statusCodes: new Set(p.retriableStatusCodes),
    backoffBaseMs: base,
    backoffMaxMs: p.backoffMaxMs > 0 ? p.backoffMaxMs : base * 10,
  };
  cache.set(p, c);
  return c;
}

/** Whether a response status asks for a retry under these conditions. */
export function retriableStatus(c: CompiledRetry, status: number): boolean {
  const f = c.flags;
  if (f & RETRY_ON["5xx"] && status >= 500) return true;
  if (f & RETRY_ON["gateway-error"] && (status === 502 || status === 503 || status === 504)) return true;
  if (f & RETRY_ON["retriable-4xx"] && status === 409) return true;
  return (f & RETRY_ON["retriable-status-codes"]) !== 0 && c.statusCodes.has(status);
}

/** Envoy's retry semantics for failures without a response. */
export function retriableFailure(c: CompiledRetry, kind: "connect-failure" | "reset" | "per-try-timeout", refusedStream: boolean): boolean {
  const f = c.flags;
  const anyNoResponse = RETRY_ON["5xx"] | RETRY_ON["gateway-error"] | RETRY_ON.reset;
  if (kind === "connect-failure") return (f & (RETRY_ON["connect-failure"] | anyNoResponse)) !== 0;
  if (kind === "reset" && refusedStream && f & RETRY_ON["refused-stream"]) return true;
  return (f & anyNoResponse) !== 0;
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base * (2^n - 1))] for retry n (1-based). */
export function backoffMs(c: CompiledRetry, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(c.backoffMaxMs, c.backoffBaseMs * (2 ** Math.min(retry, 30) - 1));
  return random() * ceiling;
}
