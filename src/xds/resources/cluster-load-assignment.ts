// IrCluster endpoints -> envoy.config.endpoint.v3.ClusterLoadAssignment, one locality per
// zone. gRPC clients ignore localities without a weight and reject duplicate
// localities, so every locality is unique and weighted (the sum of its endpoints' weights).

import type { IrCluster, IrEndpoint } from "../../ir/index.js";
import type { Json } from "./common.js";

export function clusterLoadAssignment(c: IrCluster): Json {
  const byZone = new Map<string, IrEndpoint[]>();
  for (const e of c.endpoints) {
    const zone = e.zone ?? "";
    let list = byZone.get(zone);
    if (!list) byZone.set(zone, (list = []));
    list.push(e);
  }
  const endpoints = [...byZone.entries()].map(([zone, list]) => ({
    locality: zone ? { zone } : {},
    loadBalancingWeight: { value: list.reduce((sum, e) => sum + (e.weight ?? 1), 0) },
    lbEndpoints: list.map((e) => ({
      endpoint: { address: { socketAddress: { address: e.address, portValue: e.port } } },
      healthStatus: e.healthy ? "HEALTHY" : "UNHEALTHY",
      loadBalancingWeight: { value: e.weight ?? 1 },
    })),
  }));
  return endpoints.length > 0 ? { clusterName: c.name, endpoints } : { clusterName: c.name };
}
