// Where global rate limits are counted: the rate limit service (envoyproxy/ratelimit, the
// service Envoy Gateway deploys, backed by Redis). Every proxy whose routes carry a global
// rate limit gets the ratelimit HTTP filter on the listeners serving those routes and the
// cluster `meshgate|ratelimit` the filter calls over gRPC. The limits themselves (one
// domain per BackendTrafficPolicy) are what the service reads, see
// xds/rate-limit-service-config.ts.

import { isIP } from "node:net";
import type { IrCluster, IrHttpConnectionManager, IrListener, IrRouteTable } from "../ir/index.js";
import { TranslateOptionInvalidError } from "../errors.js";

export interface RateLimitServiceAddress {
  /** An IP address, or a host name the proxies resolve (e.g. the service's DNS name). */
  readonly host: string;
  readonly port: number;
}

/** The default: a rate limit service next to each proxy, on envoyproxy/ratelimit's usual gRPC port. */
export const DEFAULT_RATE_LIMIT_SERVICE: RateLimitServiceAddress = { host: "127.0.0.1", port: 18081 };

export const RATE_LIMIT_CLUSTER = "meshgate|ratelimit";

/**
 * The ratelimit filter's own domain. Every route with a global limit names its policy's
 * domain (RateLimitPerRoute), so no descriptor is ever sent in this one; Envoy requires
 * the filter to have a domain all the same.
 */
export const DEFAULT_RATE_LIMIT_DOMAIN = "meshgate";

/** The filter waits at most a second for the service (http-filters.ts); connecting may not take longer. */
const CONNECT_TIMEOUT_MS = 1_000;

export function checkRateLimitService(address: RateLimitServiceAddress): RateLimitServiceAddress {
  const { host, port } = address;
  if (typeof host !== "string" || host.trim() === "" || /\s/.test(host)) throw new TranslateOptionInvalidError("rateLimitService.host", `expected an IP address or host name, got ${JSON.stringify(host)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new TranslateOptionInvalidError("rateLimitService.port", `expected a port number (1-65535), got ${JSON.stringify(port)}`);
  return { host, port };
}

/** The cluster the filter calls: gRPC, so HTTP/2; endpoints given inline (the service is not a Service in the configuration). */
export function rateLimitServiceCluster(address: RateLimitServiceAddress): IrCluster {
  // IPv6 literals may come bracketed, as in URLs.
  const host = address.host.replace(/^\[(.*)\]$/, "$1");
  return {
    name: RATE_LIMIT_CLUSTER,
    endpoints: [{ address: host, port: address.port, healthy: true }],
    discovery: isIP(host) !== 0 ? "static" : "dns",
    protocol: "http2",
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    loadBalancer: "ROUND_ROBIN",
  };
}

/** A route of the table is counted by the rate limit service. */
export function hasGlobalRateLimits(table: IrRouteTable): boolean {
  return table.virtualHosts.some((vh) => vh.routes.some((r) => (r.globalRateLimit?.rules.length ?? 0) > 0));
}

/**
 * The listeners with the ratelimit filter on every connection manager whose route table
 * has global limits (`needsFilter`); a filter already there (listener-wide limits) stays.
 */
export function withRateLimitFilter(listeners: readonly IrListener[], needsFilter: (routeTable: string) => boolean): IrListener[] {
  const add = (h: IrHttpConnectionManager): IrHttpConnectionManager =>
    h.filters.globalRateLimit || !needsFilter(h.routeTable)
      ? h
      : { ...h, filters: { ...h.filters, globalRateLimit: { domain: DEFAULT_RATE_LIMIT_DOMAIN, rules: [], serviceCluster: RATE_LIMIT_CLUSTER } } };
  // Listeners left unchanged stay the same objects: most proxies have no global limits,
  // and this runs once per proxy.
  return listeners.map((l) => {
    if (l.kind === "api") {
      const http = add(l.http);
      return http === l.http ? l : { ...l, http };
    }
    const chains = l.filterChains.map((c) => {
      const http = add(c.http);
      return http === c.http ? c : { ...c, http };
    });
    return chains.every((c, i) => c === l.filterChains[i]) ? l : { ...l, filterChains: chains };
  });
}

/** Connection managers of these listeners that call the rate limit service. */
export function usesRateLimitService(listeners: readonly IrListener[]): boolean {
  return listeners.some((l) => (l.kind === "api" ? [l.http] : l.filterChains.map((c) => c.http)).some((h) => h.filters.globalRateLimit?.serviceCluster === RATE_LIMIT_CLUSTER));
}
