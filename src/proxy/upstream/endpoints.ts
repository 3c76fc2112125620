// envoy.config.endpoint.v3.ClusterLoadAssignment -> the endpoints a cluster balances over.
// Locality weights are accepted but, as in Envoy without locality-weighted balancing,
// only endpoint weights steer the load balancer.

import { ConfigPath, enumValue, int, list, object, optStr, str, wrappedInt } from "../config-reader.js";

export interface EndpointSpec {
  /** An IP address, or a host name for DNS clusters. */
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** EDS health status: false for UNHEALTHY, DRAINING and TIMEOUT. */
  readonly healthy: boolean;
  readonly zone?: string;
}

type HealthStatus = "UNKNOWN" | "HEALTHY" | "UNHEALTHY" | "DRAINING" | "TIMEOUT" | "DEGRADED";
const USABLE: ReadonlySet<HealthStatus> = new Set(["UNKNOWN", "HEALTHY", "DEGRADED"]);

export function parseLoadAssignment(v: unknown, where: ConfigPath): EndpointSpec[] {
  const cla = object(v, where, ["clusterName", "endpoints"]);
  const out: EndpointSpec[] = [];
  list(cla.endpoints, where.at("endpoints")).forEach((l, i) => {
    const lw = where.at("endpoints").at(i);
    const locality = object(l, lw, ["locality", "lbEndpoints", "loadBalancingWeight", "priority"]);
    if (locality.priority !== undefined && locality.priority !== 0) lw.at("priority").fail("endpoint priorities other than 0 are not supported");
    wrappedInt(locality.loadBalancingWeight, lw.at("loadBalancingWeight"));
    let zone: string | undefined;
    if (locality.locality !== undefined) {
      const loc = object(locality.locality, lw.at("locality"), ["region", "zone", "subZone"]);
      zone = optStr(loc.zone, lw.at("locality").at("zone"));
    }
    list(locality.lbEndpoints, lw.at("lbEndpoints")).forEach((e, j) => {
      const ew = lw.at("lbEndpoints").at(j);
      const lbe = object(e, ew, ["endpoint", "healthStatus", "loadBalancingWeight"]);
      const ep = object(lbe.endpoint, ew.at("endpoint"), ["address", "hostname"]);
      const addr = object(ep.address, ew.at("endpoint").at("address"), ["socketAddress"]);
      const sw = ew.at("endpoint").at("address").at("socketAddress");
      const sa = object(addr.socketAddress, sw, ["address", "portValue", "protocol"]);
      enumValue(sa.protocol, sw.at("protocol"), ["TCP"], "TCP");
      const status = enumValue<HealthStatus>(lbe.healthStatus, ew.at("healthStatus"), ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"], "UNKNOWN");
      const weight = wrappedInt(lbe.loadBalancingWeight, ew.at("loadBalancingWeight"), 1) ?? 1;
      const address = str(sa.address, sw.at("address"));
      if (!address) sw.at("address").fail("an address is required");
      out.push({ address, port: int(sa.portValue, sw.at("portValue"), 1, 65535), weight, healthy: USABLE.has(status), ...(zone ? { zone } : {}) });
    });
  });
  return out;
}
