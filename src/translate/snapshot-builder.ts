// Shared state of one translation: the route tables and clusters every proxy refers to
// (compiled once, shared by name), and the per-proxy bookkeeping of exactly which tables,
// clusters and secrets each proxy uses.

import type { IrCluster, IrHttpConnectionManager, IrHttpFilters, IrListener, IrProxy, IrRouteTable, IrSecret } from "../ir/index.js";
import { SVID_SECRET, TRUST_BUNDLE_SECRET } from "../ir/index.js";
import type { Model } from "../model/index.js";
import { ClusterRegistry } from "./backends.js";
import { byString, sortedUnique } from "./names.js";
import { hasGlobalRateLimits, RATE_LIMIT_CLUSTER, rateLimitServiceCluster, usesRateLimitService, withRateLimitFilter, type RateLimitServiceAddress } from "./rate-limit-service.js";

/**
 * HCM defaults for every listener. Paths are normalised (RFC 3986) and repeated slashes
 * merged before routing and authorization, so a policy on `/admin` cannot be dodged with
 * `//admin` or `/a/../admin`. Encoded slashes (%2F, %5C) are decoded and the client is
 * redirected to the decoded path: routing, authorization and the backend then all see the
 * same path (forwarding the encoded form would let `/admin%2Fx` pass a `/admin/*` deny
 * while the backend decodes it), and well-behaved clients still succeed.
 * WebSocket upgrades are forwarded, as Envoy Gateway and Istio do by default (Gateway API
 * routes carry WebSocket traffic with no extra configuration); they pass the same route
 * match and HTTP filters as any request before the upgrade.
 */
export function httpConnectionManager(statPrefix: string, routeTable: string, filters: IrHttpFilters, forwardClientCert = false): IrHttpConnectionManager {
  return { statPrefix, routeTable, filters, forwardClientCert, normalizePath: true, mergeSlashes: true, escapedSlashes: "UnescapeAndRedirect", upgradeTypes: ["websocket"] };
}

/** Filters with the policy hooks' results, leaving out what does not apply. */
export function httpFilters(parts: IrHttpFilters): IrHttpFilters {
  return Object.fromEntries(Object.entries(parts).filter(([, v]) => v !== undefined)) as IrHttpFilters;
}

export interface ProxyParts {
  readonly id: string;
  readonly role: IrProxy["role"];
  readonly namespace: string;
  readonly name: string;
  /** SPIFFE ID and trust domain: the proxy then gets `default` (SVID) and `ROOTCA`. */
  readonly identity?: { readonly spiffeId: string; readonly trustDomain: string };
  readonly listeners: readonly IrListener[];
  /** Secrets only this proxy has (listener certificates). */
  readonly secrets?: readonly IrSecret[];
}

export class SnapshotBuilder {
  readonly clusters: ClusterRegistry;
  readonly routeTables = new Map<string, IrRouteTable>();

  constructor(
    readonly model: Model,
    private readonly rateLimitService: RateLimitServiceAddress,
  ) {
    this.clusters = new ClusterRegistry(model);
  }

  addRouteTable(table: IrRouteTable): string {
    if (!this.routeTables.has(table.name)) this.routeTables.set(table.name, table);
    return table.name;
  }

  /** The proxy with the tables, clusters and secrets its listeners lead to. */
  proxy(parts: ProxyParts): IrProxy {
    const tables = sortedUnique(
      parts.listeners.flatMap((l) => (l.kind === "api" ? [l.http.routeTable] : l.filterChains.map((c) => c.http.routeTable))),
    );
    // Global rate limits are enforced by the ratelimit filter calling the rate limit
    // service. Proxyless gRPC clients run no such filter (and reject static or DNS
    // clusters), so the client view gets neither.
    const listeners = parts.role === "client" ? parts.listeners : withRateLimitFilter(parts.listeners, (t) => this.#hasGlobalRateLimits(t));
    const clusterNames = new Set<string>();
    if (parts.role !== "client" && usesRateLimitService(listeners)) {
      if (!this.clusters.clusters.has(RATE_LIMIT_CLUSTER)) this.clusters.clusters.set(RATE_LIMIT_CLUSTER, rateLimitServiceCluster(this.rateLimitService));
      clusterNames.add(RATE_LIMIT_CLUSTER);
    }
    for (const t of tables) for (const c of this.#clustersOf(t)) clusterNames.add(c);
    const clusters = [...clusterNames].sort(byString);
    const secrets = new Map<string, IrSecret>();
    for (const s of parts.secrets ?? []) secrets.set(s.name, s);
    for (const name of clusters) for (const s of this.#upstreamTls(name)) secrets.set(s.name, s);
    if (parts.identity) {
      // The bundle of the proxy's own trust domain only. Trust in another mesh's root is
      // configured, never inferred from what a proxy calls: the Mesh's spec.trustedRoots
      // (added to the bundle by the CA) or a BackendTLSPolicy on the Service called.
      secrets.set(SVID_SECRET, { name: SVID_SECRET, kind: "svid", spiffeId: parts.identity.spiffeId });
      secrets.set(TRUST_BUNDLE_SECRET, { name: TRUST_BUNDLE_SECRET, kind: "trust-bundle", trustDomains: [parts.identity.trustDomain] });
    }
    return {
      id: parts.id,
      role: parts.role,
      namespace: parts.namespace,
      name: parts.name,
      ...(parts.identity ? { identity: parts.identity.spiffeId } : {}),
      listeners,
      routeTables: tables,
      clusters,
      secrets: [...secrets.values()].sort((a, b) => byString(a.name, b.name)),
    };
  }

  cluster(name: string): IrCluster {
    return this.clusters.clusters.get(name)!;
  }

  // Thousands of sidecars share a namespace's outbound table: what a table and a cluster
  // lead to is worked out once per translation, not once per proxy. Tables and clusters
  // do not change once added.
  readonly #tableClusters = new Map<string, readonly string[]>();
  readonly #tableGlobalLimits = new Map<string, boolean>();

  /** Per route table, once per translation (shared tables are used by every sidecar). */
  #hasGlobalRateLimits(table: string): boolean {
    let has = this.#tableGlobalLimits.get(table);
    if (has === undefined) this.#tableGlobalLimits.set(table, (has = hasGlobalRateLimits(this.routeTables.get(table)!)));
    return has;
  }
  readonly #clusterTls = new Map<string, IrSecret[]>();

  #clustersOf(table: string): readonly string[] {
    let names = this.#tableClusters.get(table);
    if (!names) {
      const set = new Set<string>();
      for (const vh of this.routeTables.get(table)!.virtualHosts) {
        for (const r of vh.routes) {
          if (r.action.kind !== "forward") continue;
          for (const b of r.action.backends) if (b.cluster) set.add(b.cluster);
          for (const m of r.action.mirrors ?? []) set.add(m.cluster);
        }
      }
      this.#tableClusters.set(table, (names = [...set]));
    }
    return names;
  }

  /** The shared secrets a cluster's upstream TLS needs (its client certificate and CA bundle). */
  #upstreamTls(name: string): IrSecret[] {
    let needs = this.#clusterTls.get(name);
    if (!needs) {
      needs = [];
      const tls = this.cluster(name).tls;
      if (tls) {
        for (const secret of [tls.clientCertificate, tls.validationSecret]) {
          const shared = secret !== undefined ? this.clusters.secrets.get(secret) : undefined;
          if (shared) needs.push(shared);
        }
      }
      this.#clusterTls.set(name, needs);
    }
    return needs;
  }
}
