// The rate limit service's configuration (rateLimitServiceConfig's output, the format of
// envoyproxy/ratelimit) compiled into lookup trees: a request descriptor walks the tree one
// entry per level, preferring a node with the entry's exact value over a node for the key
// alone (which matches any value and counts each value on its own). The limit applies when
// every entry was matched and the last node carries one.

import type { RateLimitServiceDescriptor, RateLimitServiceDomain, RateLimitServiceUnit } from "../xds/rate-limit-service-config.js";
import type { RlsDescriptorEntry } from "../xds/rate-limit-service-wire.js";

export interface Limit {
  readonly unit: RateLimitServiceUnit;
  readonly requestsPerUnit: number;
  /** Window length in ms. */
  readonly unitMs: number;
}

interface Node {
  readonly limit?: Limit;
  /** `key\0value` -> node, and `key` -> node for value-less (per value) nodes. */
  readonly children: ReadonlyMap<string, Node>;
}

export const UNIT_MS: Record<RateLimitServiceUnit, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

function level(ds: readonly RateLimitServiceDescriptor[] | undefined): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const d of ds ?? []) {
    const limit = d.rate_limit ? { unit: d.rate_limit.unit, requestsPerUnit: d.rate_limit.requests_per_unit, unitMs: UNIT_MS[d.rate_limit.unit] } : undefined;
    m.set(d.value === undefined ? d.key : `${d.key}\0${d.value}`, { ...(limit ? { limit } : {}), children: level(d.descriptors) });
  }
  return m;
}

export class Limits {
  private readonly domains: ReadonlyMap<string, ReadonlyMap<string, Node>>;
  constructor(config: readonly RateLimitServiceDomain[]) {
    this.domains = new Map(config.map((d) => [d.domain, level(d.descriptors)]));
  }

  hasDomain(domain: string): boolean {
    return this.domains.has(domain);
  }

  /** The limit for one request descriptor, or undefined when none applies. */
  lookup(domain: string, entries: readonly RlsDescriptorEntry[]): Limit | undefined {
    let children = this.domains.get(domain);
    let node: Node | undefined;
    for (const e of entries) {
      if (!children) return undefined;
      node = children.get(`${e.key}\0${e.value}`) ?? children.get(e.key);
      if (!node) return undefined;
      children = node.children;
    }
    return node?.limit;
  }
}
