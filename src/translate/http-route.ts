// HTTPRoute -> IrRoutes: one per (rule, match), each with its precedence key, so the
// virtual host can order matches across every route (route-precedence.ts).
//
// Matches: path Exact / PathPrefix / RegularExpression (default `PathPrefix /`; a prefix
// is segment-aware and its trailing slash does not count, as the spec says `/abc/`
// matches like `/abc`), headers (names lower-cased; the first match on a name wins, as
// the spec asks), query params (case-sensitive names; first wins), method.

import type { IrPathMatch, IrRoute, IrRouteMatch, IrStringMatch } from "../ir/index.js";
import type { RouteModel } from "../model/index.js";
import { routeTrafficSettings, clusterTrafficSettings } from "./backend-traffic-policy.js";
import { ruleBehaviour, type RouteContext, type RoutePolicies } from "./route-action.js";
import { routeOrigin, type PrecedenceKey } from "./route-precedence.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A compiled route and where it sorts. */
export interface RouteEntry {
  readonly route: IrRoute;
  readonly key: PrecedenceKey;
}

export function routePolicies(route: RouteModel, ctx: RouteContext): RoutePolicies {
  return { route: routeTrafficSettings(ctx.model, route, ctx.gateway), cluster: clusterTrafficSettings(ctx.model, route, ctx.gateway) };
}

export function httpRouteEntries(route: RouteModel, ctx: RouteContext): RouteEntry[] {
  const policies = routePolicies(route, ctx);
  const { namespace, name } = route.resource;
  const entries: RouteEntry[] = [];
  for (const rule of route.rules) {
    const spec = rule.spec as Obj;
    const matches: Obj[] = Array.isArray(spec.matches) && spec.matches.length > 0 ? spec.matches : [{}];
    matches.forEach((m, mi) => {
      const path = pathMatch(m.path);
      const match: IrRouteMatch = {
        path,
        headers: firstPerName(m.headers, (n) => n.toLowerCase()),
        queryParams: firstPerName(m.queryParams, (n) => n),
        ...(typeof m.method === "string" ? { method: m.method } : {}),
      };
      const behaviour = ruleBehaviour(route, rule, path, ctx, policies);
      entries.push({
        route: {
          name: `httproute/${namespace}/${name}/rule/${rule.index}/match/${mi}`,
          match,
          ...behaviour,
          ...(policies.route.localRateLimit ? { localRateLimit: policies.route.localRateLimit } : {}),
          ...(policies.route.globalRateLimit ? { globalRateLimit: policies.route.globalRateLimit } : {}),
          source: { kind: route.kind, namespace, name, rule: rule.index },
        },
        key: {
          rank: {
            kind: "HTTPRoute",
            pathRank: path.kind === "Exact" ? 0 : path.kind === "RegularExpression" ? 1 : 2,
            pathLength: path.value.length,
            method: match.method !== undefined,
            headers: match.headers.length,
            queryParams: match.queryParams.length,
          },
          origin: routeOrigin(route, rule.index, mi),
        },
      });
    });
  }
  return entries;
}

function pathMatch(spec: Obj | undefined): IrPathMatch {
  const type = spec?.type ?? "PathPrefix";
  const value: string = spec?.value ?? "/";
  if (type === "Exact" || type === "RegularExpression") return { kind: type, value };
  return { kind: "PathPrefix", value: value.length > 1 ? value.replace(/\/+$/, "") || "/" : value };
}

/** Header / query param matches; a name repeated later is ignored (the spec: first wins). */
export function firstPerName(list: Obj[] | undefined, normalise: (name: string) => string): ({ name: string } & IrStringMatch)[] {
  const seen = new Set<string>();
  const out: ({ name: string } & IrStringMatch)[] = [];
  for (const h of list ?? []) {
    const name = normalise(String(h.name));
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ name, kind: h.type === "RegularExpression" ? "RegularExpression" : "Exact", value: String(h.value) });
  }
  return out;
}
