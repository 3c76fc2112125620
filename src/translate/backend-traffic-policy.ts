// BackendTrafficPolicy -> per-route settings (rate limits, retries, timeouts) and
// per-cluster settings (circuit breakers, outlier detection, health checks, load balancing).
// TODO(issue 4): implemented by the security translator; returns nothing until then.

import type { IrCircuitBreakers, IrGlobalRateLimit, IrHealthCheck, IrLoadBalancer, IrLocalRateLimit, IrOutlierDetection, IrRetry } from "../ir/index.js";
import type { GatewayModel, Model, RouteModel } from "../model/index.js";

export interface RouteTrafficSettings {
  readonly localRateLimit?: IrLocalRateLimit;
  readonly globalRateLimit?: IrGlobalRateLimit;
  readonly retry?: IrRetry;
  readonly timeoutMs?: number;
}

export interface ClusterTrafficSettings {
  /** Distinguishes clusters that differ only by policy: appended to the cluster name. */
  readonly key: string;
  readonly circuitBreakers?: IrCircuitBreakers;
  readonly outlierDetection?: IrOutlierDetection;
  readonly healthCheck?: IrHealthCheck;
  readonly loadBalancer?: IrLoadBalancer;
  readonly connectTimeoutMs?: number;
}

/** Settings of the policies targeting this route (or, less specific, its Gateway). */
export function routeTrafficSettings(_model: Model, _route: RouteModel, _gateway: GatewayModel | undefined): RouteTrafficSettings {
  return {};
}

/** Cluster settings for the backends of this route, undefined when no policy applies. */
export function clusterTrafficSettings(_model: Model, _route: RouteModel, _gateway: GatewayModel | undefined): ClusterTrafficSettings | undefined {
  return undefined;
}
