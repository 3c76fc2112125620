// The limits the rate limit service (envoyproxy/ratelimit) enforces: one configuration per
// domain, in the service's YAML format, computed from the same route tables and rule
// descriptions as the routes' rate limit actions (resources/rate-limits.ts), so every
// descriptor a proxy sends finds its limit.
//
// A descriptor the proxy sends is a list of entries, e.g.
//   rule=<rule id>, header.x-user=<the header's value>, masked_remote_address=10.0.0.0/8
// and the service matches it against a tree of the same keys, one level per entry; an
// entry without a value matches every value and counts each value separately (distinct
// headers, distinct source addresses). The rule id comes first, so rules never share a
// counter.

import { stringify } from "yaml";
import { XdsUnsupportedError } from "../errors.js";
import type { IrGlobalRateLimit, IrHttpConnectionManager, IrRateLimitRule, IrSnapshot } from "../ir/index.js";
import { describe, type DescriptorEntry } from "./resources/rate-limits.js";

export type RateLimitServiceUnit = "second" | "minute" | "hour" | "day";

/** One level of the service's descriptor tree (field names as the service reads them). */
export interface RateLimitServiceDescriptor {
  readonly key: string;
  /** Absent: any value, each counted on its own. */
  readonly value?: string;
  readonly rate_limit?: { readonly unit: RateLimitServiceUnit; readonly requests_per_unit: number };
  readonly descriptors?: readonly RateLimitServiceDescriptor[];
}

export interface RateLimitServiceDomain {
  readonly domain: string;
  readonly descriptors: readonly RateLimitServiceDescriptor[];
}

const UNITS: Record<IrRateLimitRule["unit"], RateLimitServiceUnit> = { Second: "second", Minute: "minute", Hour: "hour", Day: "day" };

interface Node {
  readonly key: string;
  readonly value: string | undefined;
  limit?: { unit: RateLimitServiceUnit; requests: number; rule: string };
  readonly children: Map<string, Node>;
}

/**
 * Every domain any proxy's routes send descriptors in, sorted by domain; descriptors
 * sorted by key, then value. Deterministic: the same snapshot gives the same text.
 */
export function rateLimitServiceConfig(ir: IrSnapshot): RateLimitServiceDomain[] {
  const domains = new Map<string, Map<string, Node>>();
  const seen = new Set<string>();
  for (const p of ir.proxies) {
    for (const l of p.listeners) {
      for (const h of l.kind === "api" ? [l.http] : l.filterChains.map((c) => c.http)) {
        // The same table behind listeners with the same limits sends the same descriptors.
        const key = JSON.stringify([h.routeTable, listenerLimits(h)?.domain, listenerLimits(h)?.rules]);
        if (seen.has(key)) continue;
        seen.add(key);
        addTable(ir, h, domains);
      }
    }
  }
  return [...domains.entries()].sort(([a], [b]) => compare(a, b)).map(([domain, roots]) => ({ domain, descriptors: toDescriptors(roots) }));
}

/** The configuration as the service reads it: one YAML document per domain (one file each). */
export function rateLimitServiceConfigYaml(domain: RateLimitServiceDomain): string {
  return stringify(domain, { lineWidth: 0 });
}

function listenerLimits(h: IrHttpConnectionManager): IrGlobalRateLimit | undefined {
  const g = h.filters.globalRateLimit;
  return g && g.rules.length > 0 ? g : undefined;
}

/** As route-configuration.ts sends them: a forward route's own rules and the listener's, in the route's domain when it names one. */
function addTable(ir: IrSnapshot, h: IrHttpConnectionManager, domains: Map<string, Map<string, Node>>): void {
  const table = ir.routeTables.get(h.routeTable);
  if (!table) return;
  const listener = listenerLimits(h);
  for (const vh of table.virtualHosts) {
    for (const r of vh.routes) {
      if (r.action.kind !== "forward") continue;
      const rules = [...(r.globalRateLimit?.rules ?? []), ...(listener?.rules ?? [])];
      if (rules.length === 0) continue;
      const domain = r.globalRateLimit ? r.globalRateLimit.domain : listener!.domain;
      let roots = domains.get(domain);
      if (!roots) domains.set(domain, (roots = new Map()));
      const where = `route table ${table.name} route ${r.name}`;
      for (const rule of rules) insert(roots, describe(rule, false, where).entries, rule, where);
    }
  }
}

function insert(level: Map<string, Node>, entries: readonly DescriptorEntry[], rule: IrRateLimitRule, where: string): void {
  let node: Node | undefined;
  for (const e of entries) {
    const id = JSON.stringify([e.key, e.value ?? null]);
    node = level.get(id);
    if (!node) level.set(id, (node = { key: e.key, value: e.value, children: new Map() }));
    level = node.children;
  }
  const limit = { unit: UNITS[rule.unit], requests: rule.requests, rule: rule.id };
  if (node!.limit && (node!.limit.unit !== limit.unit || node!.limit.requests !== limit.requests)) {
    // Rule ids name policy, rule and (unless shared) route, so this means a bug upstream.
    throw new XdsUnsupportedError(where, `rate limit rule ${rule.id} has two different limits`);
  }
  node!.limit = limit;
}

function toDescriptors(level: Map<string, Node>): RateLimitServiceDescriptor[] {
  return [...level.values()]
    .sort((a, b) => compare(a.key, b.key) || Number(a.value !== undefined) - Number(b.value !== undefined) || compare(a.value ?? "", b.value ?? ""))
    .map((n) => ({
      key: n.key,
      ...(n.value !== undefined ? { value: n.value } : {}),
      ...(n.limit ? { rate_limit: { unit: n.limit.unit, requests_per_unit: n.limit.requests } } : {}),
      ...(n.children.size > 0 ? { descriptors: toDescriptors(n.children) } : {}),
    }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
