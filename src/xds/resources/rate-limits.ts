// BackendTrafficPolicy rate limit rules -> route rate limit actions (descriptors) and
// local token buckets.
//
// Every rule becomes one RateLimit on the route whose first action is
// generic_key{ key "rule", value <rule id> }, so each rule counts in its own bucket and
// the rate limit service's configuration names rules by id. The client selectors add:
//   header Exact/RegularExpression  header_value_match  key `header.<name>`, value "match"
//   header Distinct (global only)   request_headers     key `header.<name>`, value = header value
//   source CIDR                     masked_remote_address (value `<network>/<len>`)
//                                   + remote_address when distinct (global only)
//   methods                         header_value_match  key "method", value "match"
//   path                            header_value_match  key "path", value "match"
// Global rules run at stage 0 (the ratelimit filter's), local rules at stage 1 (the
// local_ratelimit filter's), so neither filter sees the other's descriptors.

import { XdsUnsupportedError } from "../../errors.js";
import type { IrRateLimitClientSelector, IrRateLimitRule } from "../../ir/index.js";
import { ANY_TYPES, duration, escapeRegex, wrap, type Json } from "./common.js";

export const GLOBAL_STAGE = 0;
export const LOCAL_STAGE = 1;
const UINT32_MAX = 4294967295;

const UNIT_MS = { Second: 1_000, Minute: 60_000, Hour: 3_600_000, Day: 86_400_000 } as const;

interface Descriptor {
  readonly actions: Json[];
  /** The entries a local descriptor must list to match what the actions produce. */
  readonly entries: { key: string; value: string }[];
}

function describe(rule: IrRateLimitRule, local: boolean, where: string): Descriptor {
  const actions: Json[] = [{ genericKey: { descriptorKey: "rule", descriptorValue: rule.id } }];
  const entries = [{ key: "rule", value: rule.id }];
  const match = (key: string, headers: Json[], expect = true) => {
    actions.push({ headerValueMatch: { descriptorKey: key, descriptorValue: "match", expectMatch: wrap(expect), headers } });
    entries.push({ key, value: "match" });
  };
  for (const s of rule.clientSelectors) selector(s);
  return { actions, entries };

  function selector(s: IrRateLimitClientSelector): void {
    for (const h of s.headers) {
      const key = `header.${h.name}`;
      if (h.kind === "Distinct") {
        if (local) throw new XdsUnsupportedError(where, `local rate limit rule ${rule.id}: a distinct header counts per value, which only global rate limits can do`);
        actions.push({ requestHeaders: { headerName: h.name, descriptorKey: key } });
      } else {
        const stringMatch = h.kind === "Exact" ? { exact: h.value ?? "" } : { safeRegex: { regex: h.value ?? "" } };
        match(key, [{ name: h.name, stringMatch }], !h.invert);
      }
    }
    if (s.sourceCidr) {
      const [address, len] = s.sourceCidr.cidr.split("/") as [string, string | undefined];
      const v6 = address.includes(":");
      const bits = len !== undefined ? Number(len) : v6 ? 128 : 32;
      actions.push({ maskedRemoteAddress: v6 ? { v6PrefixMaskLen: wrap(bits) } : { v4PrefixMaskLen: wrap(bits) } });
      entries.push({ key: "masked_remote_address", value: `${address}/${bits}` });
      if (s.sourceCidr.distinct) {
        if (local) throw new XdsUnsupportedError(where, `local rate limit rule ${rule.id}: a distinct source counts per address, which only global rate limits can do`);
        actions.push({ remoteAddress: {} });
      }
    }
    if (s.methods && s.methods.length > 0) match("method", [{ name: ":method", stringMatch: { safeRegex: { regex: `^(${s.methods.map(escapeRegex).join("|")})$` } } }]);
    if (s.path) {
      // :path carries the query string; the patterns allow one after the path.
      const v = s.path.value;
      const regex =
        s.path.kind === "Exact"
          ? `^${escapeRegex(v)}(\\?.*)?$`
          : s.path.kind === "PathPrefix"
            ? `^${escapeRegex(v.replace(/\/+$/, ""))}(/[^?]*)?(\\?.*)?$`
            : v;
      match("path", [{ name: ":path", stringMatch: { safeRegex: { regex } } }]);
    }
  }
}

/** RouteAction.rateLimits entries for these rules. */
export function rateLimitActions(rules: readonly IrRateLimitRule[], stage: number, local: boolean, where: string): Json[] {
  return rules.map((r) => ({ stage: wrap(stage), actions: describe(r, local, where).actions }));
}

/** The local_ratelimit per-route config holding one token bucket per rule. */
export function localRateLimitPerRoute(rules: readonly IrRateLimitRule[], where: string): Json {
  return {
    "@type": ANY_TYPES.localRateLimit,
    statPrefix: "http_local_rate_limiter",
    stage: LOCAL_STAGE,
    // Requests that match no rule share this bucket, which never runs dry.
    tokenBucket: { maxTokens: UINT32_MAX, tokensPerFill: wrap(UINT32_MAX), fillInterval: duration(1_000) },
    filterEnabled: { runtimeKey: "local_rate_limit_enabled", defaultValue: { numerator: 100, denominator: "HUNDRED" } },
    filterEnforced: { runtimeKey: "local_rate_limit_enforced", defaultValue: { numerator: 100, denominator: "HUNDRED" } },
    descriptors: rules.map((r) => ({
      entries: describe(r, true, where).entries,
      tokenBucket: { maxTokens: r.requests, tokensPerFill: wrap(r.requests), fillInterval: duration(UNIT_MS[r.unit]) },
    })),
  };
}
