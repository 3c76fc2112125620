// BackendTrafficPolicy rate limit rules -> route rate limit actions (descriptors) and
// local token buckets.
//
// Every rule becomes one RateLimit on the route whose first action is
// generic_key{ key "rule", value <rule id> }, so each rule counts in its own bucket and
// the rate limit service's configuration names rules by id. The client selectors add:
//   header Exact/RegularExpression  header_value_match  key `header.<name>`, value "match"
//   header Distinct (global only)   request_headers     key `header.<name>`, value = header value
//   source CIDR                     masked_remote_address (value `<network>/<len>`, the
//                                   network address as Envoy prints it)
//                                   + remote_address when distinct (global only)
//   methods                         header_value_match  key "method", value "match"
//   path                            header_value_match  key "path", value "match"
// Global rules run at stage 0 (the ratelimit filter's), local rules at stage 1 (the
// local_ratelimit filter's), so neither filter sees the other's descriptors.

import { isIPv4, isIPv6, SocketAddress } from "node:net";
import { XdsUnsupportedError } from "../../errors.js";
import type { IrRateLimitClientSelector, IrRateLimitRule } from "../../ir/index.js";
import { ANY_TYPES, duration, escapeRegex, wrap, type Json } from "./common.js";

export const GLOBAL_STAGE = 0;
export const LOCAL_STAGE = 1;
const UINT32_MAX = 4294967295;

const UNIT_MS = { Second: 1_000, Minute: 60_000, Hour: 3_600_000, Day: 86_400_000 } as const;

/** A descriptor entry the actions produce; no value = the request's own (one counter per value). */
export interface DescriptorEntry {
  readonly key: string;
  readonly value?: string;
}

interface Descriptor {
  readonly actions: Json[];
  /**
   * The entries a descriptor must list to match what the actions produce: the local
   * token buckets', and the rate limit service's configuration (rate-limit-service-config.ts).
   */
  readonly entries: DescriptorEntry[];
}

export function describe(rule: IrRateLimitRule, local: boolean, where: string): Descriptor {
  const actions: Json[] = [{ genericKey: { descriptorKey: "rule", descriptorValue: rule.id } }];
  const entries: DescriptorEntry[] = [{ key: "rule", value: rule.id }];
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
        entries.push({ key });
      } else {
        const stringMatch = h.kind === "Exact" ? { exact: h.value ?? "" } : { safeRegex: { regex: h.value ?? "" } };
        match(key, [{ name: h.name, stringMatch }], !h.invert);
      }
    }
    if (s.sourceCidr) {
      const network = maskedNetwork(s.sourceCidr.cidr);
      if (!network) throw new XdsUnsupportedError(where, `rate limit rule ${rule.id}: ${JSON.stringify(s.sourceCidr.cidr)} is not a CIDR`);
      actions.push({ maskedRemoteAddress: network.v6 ? { v6PrefixMaskLen: wrap(network.bits) } : { v4PrefixMaskLen: wrap(network.bits) } });
      entries.push({ key: "masked_remote_address", value: network.value });
      if (s.sourceCidr.distinct) {
        if (local) throw new XdsUnsupportedError(where, `local rate limit rule ${rule.id}: a distinct source counts per address, which only global rate limits can do`);
        actions.push({ remoteAddress: {} });
        entries.push({ key: "remote_address" });
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

/**
 * The value Envoy's masked_remote_address action produces for clients in this CIDR: the
 * network address (host bits cleared, IPv6 in its canonical short form) and the prefix
 * length, so `10.1.0.0/8` and `2001:0db8::/32` still match what Envoy sends.
 */
export function maskedNetwork(cidr: string): { value: string; bits: number; v6: boolean } | undefined {
  const [address, len, extra] = cidr.trim().split("/");
  if (address === undefined || extra !== undefined || (len !== undefined && !/^\d{1,3}$/.test(len))) return undefined;
  const v6 = isIPv6(address);
  if (!v6 && !isIPv4(address)) return undefined;
  const width = v6 ? 128 : 32;
  const bits = len !== undefined ? Number(len) : width;
  if (bits > width) return undefined;
  if (!v6) {
    const n = address.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    const masked = bits === 0 ? 0 : Number(BigInt(n) & ((1n << 32n) - (1n << BigInt(32 - bits))));
    return { value: `${[24, 16, 8, 0].map((sh) => (masked >>> sh) & 255).join(".")}/${bits}`, bits, v6 };
  }
  let n = 0n;
  for (const g of ipv6Groups(address)) n = (n << 16n) | BigInt(g);
  const masked = bits === 0 ? 0n : n & ((1n << 128n) - (1n << BigInt(128 - bits)));
  const groups = Array.from({ length: 8 }, (_, i) => ((masked >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // SocketAddress prints the canonical (RFC 5952) form, as Envoy does.
  return { value: `${new SocketAddress({ address: groups.join(":"), family: "ipv6" }).address}/${bits}`, bits, v6 };
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail split). */
function ipv6Groups(address: string): number[] {
  let a = address;
  const tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (tail) {
    const o = tail[2]!.split(".").map(Number) as [number, number, number, number];
    a = `${tail[1]}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, rest] = a.split("::") as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(":").map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(rest);
  return rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
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
