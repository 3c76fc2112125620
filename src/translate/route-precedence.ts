// The order routes are tried in, across every route of a virtual host. Proxies try routes
// first to last, so the translator sorts them exactly as the Gateway API orders matches:
//
// HTTPRoute (per match, across all rules of all routes):
//   1. Exact path, then RegularExpression path, then PathPrefix (longest prefix first).
//      The spec leaves regular expressions implementation-specific; we put them after
//      Exact and before every prefix so that a catch-all `PathPrefix /` (the default
//      match) never shadows them. Longer expressions go first.
//   2. A method match; 3. more header matches; 4. more query param matches.
// GRPCRoute: more characters in the matched service, then in the method, then more
//   header matches (exact and regular expressions count alike).
// Ties, for both: the oldest route (metadata.creationTimestamp; a route without one counts
//   as the newest), then `namespace/name` in alphabetical order, then rule order, then
//   match order.
// When HTTPRoutes and GRPCRoutes share a virtual host (the spec calls that a conflict and
// leaves it open), GRPCRoute matches go first: they name a specific `/service/method`.

import type { RouteModel } from "../model/index.js";

export interface HttpMatchRank {
  readonly kind: "HTTPRoute";
  /** 0 Exact, 1 RegularExpression, 2 PathPrefix. */
  readonly pathRank: 0 | 1 | 2;
  readonly pathLength: number;
  readonly method: boolean;
  readonly headers: number;
  readonly queryParams: number;
}

export interface GrpcMatchRank {
  readonly kind: "GRPCRoute";
  readonly serviceLength: number;
  readonly methodLength: number;
  readonly headers: number;
}

export interface RouteOrigin {
  /** Milliseconds since the epoch; undefined when the route has no creationTimestamp. */
  readonly created: number | undefined;
  /** `namespace/name`. */
  readonly name: string;
  readonly rule: number;
  readonly match: number;
}

export interface PrecedenceKey {
  readonly rank: HttpMatchRank | GrpcMatchRank;
  readonly origin: RouteOrigin;
}

export function routeOrigin(route: RouteModel, rule: number, match: number): RouteOrigin {
  const stamp = (route.resource.object as { metadata?: { creationTimestamp?: unknown } }).metadata?.creationTimestamp;
  const parsed = typeof stamp === "string" ? Date.parse(stamp) : stamp instanceof Date ? stamp.getTime() : NaN;
  return { created: Number.isNaN(parsed) ? undefined : parsed, name: `${route.resource.namespace}/${route.resource.name}`, rule, match };
}

/** Negative when `a` must be tried before `b`. */
export function comparePrecedence(a: PrecedenceKey, b: PrecedenceKey): number {
  return compareRank(a.rank, b.rank) || compareOrigin(a.origin, b.origin);
}

function compareRank(a: HttpMatchRank | GrpcMatchRank, b: HttpMatchRank | GrpcMatchRank): number {
  if (a.kind !== b.kind) return a.kind === "GRPCRoute" ? -1 : 1;
  if (a.kind === "HTTPRoute" && b.kind === "HTTPRoute") {
    return (
      a.pathRank - b.pathRank ||
      b.pathLength - a.pathLength ||
      Number(b.method) - Number(a.method) ||
      b.headers - a.headers ||
      b.queryParams - a.queryParams
    );
  }
  const ga = a as GrpcMatchRank, gb = b as GrpcMatchRank;
  return gb.serviceLength - ga.serviceLength || gb.methodLength - ga.methodLength || gb.headers - ga.headers;
}

function compareOrigin(a: RouteOrigin, b: RouteOrigin): number {
  if (a.created !== b.created) {
    if (a.created === undefined) return 1;
    if (b.created === undefined) return -1;
    return a.created - b.created;
  }
  return (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.rule - b.rule || a.match - b.match;
}
