// Model -> IR: every proxy's listeners, route tables, clusters and secrets, compiled
// from the model and nothing else. Deterministic: proxies sorted by id, tables and
// clusters by name, names derived from resources (names.ts), never from order.
//
// Proxies: one per accepted Gateway of our GatewayClass (gateway-listeners.ts), one
// sidecar per Workload in a Mesh (sidecars.ts), and the client view for proxyless gRPC
// clients (client-view.ts).
//
// Options name what the configuration does not: where the rate limit service runs
// (rate-limit-service.ts).

import type { IrCluster, IrProxy, IrRouteTable, IrSnapshot } from "../ir/index.js";
import type { Model } from "../model/index.js";
import { clientView } from "./client-view.js";
import { gatewayProxy, servedGateways } from "./gateway-listeners.js";
import { byString } from "./names.js";
import { checkRateLimitService, DEFAULT_RATE_LIMIT_SERVICE, type RateLimitServiceAddress } from "./rate-limit-service.js";
import { sidecarProxy } from "./sidecars.js";
import { SnapshotBuilder } from "./snapshot-builder.js";

export interface TranslateOptions {
  /**
   * Where the rate limit service (envoyproxy/ratelimit) answers gRPC; every proxy with
   * global rate limits calls it through the cluster `meshgate|ratelimit`. Default
   * `127.0.0.1:18081` (a service next to each proxy). A host name is resolved by the proxies.
   */
  readonly rateLimitService?: RateLimitServiceAddress;
}

export function translate(model: Model, version: number, options: TranslateOptions = {}): IrSnapshot {
  const b = new SnapshotBuilder(model, checkRateLimitService(options.rateLimitService ?? DEFAULT_RATE_LIMIT_SERVICE));
  const gateways = servedGateways(model);
  const workloads = model.workloads.filter((w) => w.mesh !== undefined && w.spiffeId !== undefined).sort((x, y) => byString(`${x.namespace}/${x.name}`, `${y.namespace}/${y.name}`));
  const proxies: IrProxy[] = [...gateways.map((gw) => gatewayProxy(model, gw, b)), ...workloads.map((w) => sidecarProxy(model, w, b)), clientView(model, b)];
  proxies.sort((x, y) => byString(x.id, y.id));

  // Only what some proxy uses (a route compiled for a virtual host that another listener
  // owns may have registered clusters nobody references).
  const usedTables = new Set(proxies.flatMap((p) => p.routeTables));
  const usedClusters = new Set(proxies.flatMap((p) => p.clusters));
  const routeTables = new Map<string, IrRouteTable>([...b.routeTables].filter(([n]) => usedTables.has(n)).sort(([x], [y]) => byString(x, y)));
  const clusters = new Map<string, IrCluster>([...b.clusters.clusters].filter(([n]) => usedClusters.has(n)).sort(([x], [y]) => byString(x, y)));
  return { version, proxies, routeTables, clusters };
}
