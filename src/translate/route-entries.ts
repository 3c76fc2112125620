// One entry point for compiling a route of either kind in a context.

import type { RouteModel } from "../model/index.js";
import { grpcRouteEntries } from "./grpc-route.js";
import { httpRouteEntries, type RouteEntry } from "./http-route.js";
import type { RouteContext } from "./route-action.js";

export function routeEntries(route: RouteModel, ctx: RouteContext): RouteEntry[] {
  return route.kind === "GRPCRoute" ? grpcRouteEntries(route, ctx) : httpRouteEntries(route, ctx);
}
