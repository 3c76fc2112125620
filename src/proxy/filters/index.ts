// The HTTP filters of an HttpConnectionManager, compiled once per configuration: one
// HttpFilter per entry of `httpFilters`, in order, the terminal router left out (the
// connection manager routes itself). A filter type or field the proxy cannot honour
// throws ProxyFilterUnsupportedError so the xDS client NACKs the listener.

import { ProxyFilterUnsupportedError } from "../../errors.js";
import type { Logger } from "../../telemetry/logger.js";
import type { EnvoyResource, HttpFilter } from "../contracts.js";
import { bool, ConfigPath, FILTER_CONFIG, type Obj, object, str } from "../config-reader.js";
import { unwrapFilterConfig } from "./config.js";
import { compileRouteRateLimits } from "./descriptors.js";
import { compileJwtAuthn, JWT_AUTHN_TYPE, type JwksFetcher } from "./jwt-authn.js";
import { compileLocalRateLimit, LOCAL_RATE_LIMIT_TYPE, localLimiterFor } from "./local-ratelimit.js";
import { compileRateLimit, perRouteDomain, RATE_LIMIT_TYPE, type RateLimitServiceResolver } from "./ratelimit.js";
import { compileRbac, RBAC_TYPE } from "./rbac.js";

export { JWT_AUTHN_METADATA, JWT_MESSAGES, fetchJwksWithUndici, type JwksFetcher } from "./jwt-authn.js";
export { RBAC_DENIED_BODY, RBAC_METADATA } from "./rbac.js";
export { LOCAL_RATE_LIMITED_BODY } from "./local-ratelimit.js";
export type { RateLimitServiceResolver } from "./ratelimit.js";
export { compileRouteRateLimits } from "./descriptors.js";

export const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const JWT_PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
const RATE_LIMIT_PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";

/** What compiled filters need from the rest of the proxy. */
export interface FilterDeps {
  /** The address of the rate limit service cluster's endpoint (global rate limits); undefined: none healthy. */
  readonly rateLimitService?: RateLimitServiceResolver;
  /** Fetches a remote JWKS (default: undici, straight to the URI). */
  readonly fetchJwks?: JwksFetcher;
  readonly logger?: Logger;
}

export function compileHttpFilters(httpFilters: readonly EnvoyResource[], deps: FilterDeps = {}): HttpFilter[] {
  const out: HttpFilter[] = [];
  httpFilters.forEach((f, i) => {
    const entry = object(f, new ConfigPath(FILTER_CONFIG, `httpFilters[${i}]`, ""), ["name", "typedConfig", "isOptional", "disabled"]);
    const name = str(entry.name, new ConfigPath(FILTER_CONFIG, `httpFilters[${i}]`, "name"));
    const where = new ConfigPath(FILTER_CONFIG, name, "");
    if (bool(entry.disabled, where.at("disabled"))) where.at("disabled").fail("filters disabled by default are not supported");
    const config = entry.typedConfig as Obj | undefined;
    const type = config?.["@type"];
    if (typeof type !== "string") where.at("typedConfig").fail("a typed config is required");
    let filter: HttpFilter | undefined;
    switch (type) {
      case ROUTER_TYPE:
        if (i !== httpFilters.length - 1) where.fail("the router must be the last filter");
        return;
      case RBAC_TYPE:
        filter = compileRbac(name, config!);
        break;
      case JWT_AUTHN_TYPE:
        filter = compileJwtAuthn(name, config!, deps);
        break;
      case LOCAL_RATE_LIMIT_TYPE:
        filter = compileLocalRateLimit(name, config!);
        break;
      case RATE_LIMIT_TYPE:
        filter = compileRateLimit(name, config!, deps);
        break;
      default:
        // An optional filter the proxy does not know is skipped, as Envoy does.
        if (bool(entry.isOptional, where.at("isOptional"))) return;
        throw new ProxyFilterUnsupportedError(name, "typedConfig.@type", `${type} is not a filter meshgate's proxy runs`);
    }
    out.push(filter);
  });
  const last = httpFilters[httpFilters.length - 1] as Obj | undefined;
  if (!last || (last.typedConfig as Obj | undefined)?.["@type"] !== ROUTER_TYPE) throw new ProxyFilterUnsupportedError("envoy.filters.http.router", "httpFilters", "the chain must end with the router");
  return out;
}

/**
 * Checks a route's per-filter config for a filter of this chain (typedPerFilterConfig)
 * and its rate limit actions, at route compile time, so an unusable one is NACKed
 * rather than failing requests. Compiled forms are cached on the objects themselves.
 */
export function checkRouteFilterConfig(filterName: string, config: EnvoyResource): void {
  const c = unwrapFilterConfig(config);
  if (!c) return;
  switch (c["@type"]) {
    case LOCAL_RATE_LIMIT_TYPE:
      localLimiterFor(c, filterName);
      return;
    case RATE_LIMIT_PER_ROUTE_TYPE:
      perRouteDomain(c, filterName);
      return;
    case JWT_PER_ROUTE_TYPE:
      object(c, new ConfigPath(FILTER_CONFIG, filterName, "typedPerFilterConfig"), ["disabled", "requirementName"]);
      return;
    default:
      throw new ProxyFilterUnsupportedError(filterName, "typedPerFilterConfig.@type", `${String(c["@type"])} is not a per-route config meshgate's proxy understands`);
  }
}

export function checkRouteRateLimits(rateLimits: readonly EnvoyResource[], where: string): void {
  compileRouteRateLimits(rateLimits, where);
}
