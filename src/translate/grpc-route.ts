// GRPCRoute -> IrRoutes. A gRPC call is an HTTP/2 POST to `/<service>/<method>`, so
// method matches become path matches:
//   Exact service + method      -> Exact `/service/method`
//   Exact service only          -> PathPrefix `/service` (segment-aware: every method)
//   Exact method only           -> RegularExpression `/[^/]+/method`
//   RegularExpression           -> RegularExpression `/<service or [^/]+>/<method or [^/]+>`
//   no method match             -> PathPrefix `/`
// Backends get HTTP/2 clusters. Precedence per the GRPCRoute spec (route-precedence.ts):
// characters in the service, then in the method, then header matches.

import type { IrPathMatch } from "../ir/index.js";
import type { RouteModel } from "../model/index.js";
import { firstPerName, routePolicies, type RouteEntry } from "./http-route.js";
import { ruleBehaviour, type RouteContext } from "./route-action.js";
import { routeOrigin } from "./route-precedence.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function grpcRouteEntries(route: RouteModel, ctx: RouteContext): RouteEntry[] {
  const policies = routePolicies(route, ctx);
  const { namespace, name } = route.resource;
  const entries: RouteEntry[] = [];
  for (const rule of route.rules) {
    const spec = rule.spec as Obj;
    const matches: Obj[] = Array.isArray(spec.matches) && spec.matches.length > 0 ? spec.matches : [{}];
    matches.forEach((m, mi) => {
      const path = methodPath(m.method);
      const headers = firstPerName(m.headers, (n) => n.toLowerCase());
      entries.push({
        route: {
          name: `grpcroute/${namespace}/${name}/rule/${rule.index}/match/${mi}`,
          match: { path, headers, queryParams: [] },
          ...ruleBehaviour(route, rule, path, ctx, policies),
          ...(policies.route.localRateLimit ? { localRateLimit: policies.route.localRateLimit } : {}),
          ...(policies.route.globalRateLimit ? { globalRateLimit: policies.route.globalRateLimit } : {}),
          source: { kind: route.kind, namespace, name, rule: rule.index },
        },
        key: {
          rank: { kind: "GRPCRoute", serviceLength: String(m.method?.service ?? "").length, methodLength: String(m.method?.method ?? "").length, headers: headers.length },
          origin: routeOrigin(route, rule.index, mi),
        },
      });
    });
  }
  return entries;
}

export function methodPath(method: Obj | undefined): IrPathMatch {
  const service: string | undefined = method?.service || undefined;
  const name: string | undefined = method?.method || undefined;
  if (!service && !name) return { kind: "PathPrefix", value: "/" };
  if ((method?.type ?? "Exact") === "RegularExpression") {
    return { kind: "RegularExpression", value: `/${service ?? "[^/]+"}/${name ?? "[^/]+"}` };
  }
  if (service && name) return { kind: "Exact", value: `/${service}/${name}` };
  if (service) return { kind: "PathPrefix", value: `/${service}` };
  return { kind: "RegularExpression", value: `/[^/]+/${escapeRegex(name!)}` };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
