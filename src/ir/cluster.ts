// Upstream clusters and their endpoints.

export type IrLoadBalancer = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM";

export interface IrEndpoint {
  readonly address: string;
  readonly port: number;
  readonly healthy: boolean;
  readonly zone?: string;
  /** Endpoint weight (default 1). */
  readonly weight?: number;
}

/** A subject alternative name the upstream's certificate must carry (any one of them). */
export interface IrSanMatch {
  readonly type: "DNS" | "URI";
  readonly value: string;
}

export interface IrUpstreamTls {
  /** SNI sent to the upstream. */
  readonly sni?: string;
  /** Secret name of the client certificate presented (mTLS); absent = no client cert. */
  readonly clientCertificate?: string;
  /** Secret name of the CA bundle the upstream's chain is verified against. */
  readonly validationSecret: string;
  /** The upstream certificate must match one of these (empty = any name under the CA). */
  readonly subjectAltNames: readonly IrSanMatch[];
  /** ALPN offered, e.g. ["h2", "http/1.1"]. */
  readonly alpn?: readonly string[];
}

export interface IrCircuitBreakers {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly maxRetries?: number;
}

export interface IrOutlierDetection {
  readonly consecutive5xx?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
}

export interface IrHealthCheck {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly expectedStatuses?: readonly number[];
}

/**
 * How a proxy learns a cluster's endpoints. `eds` (the default): served over EDS under the
 * cluster's name. Services outside the configuration (the rate limit service) are given
 * in the cluster itself: `static` when the addresses are IPs, `dns` when they are host
 * names the proxy resolves (every address the name resolves to is an endpoint).
 */
export type IrEndpointDiscovery = "eds" | "static" | "dns";

export interface IrCluster {
  /** e.g. `outbound|9080||reviews.bookinfo.svc.cluster.local` (Istio's form). */
  readonly name: string;
  /** Endpoints are served over EDS under the cluster's name (see `discovery`). */
  readonly endpoints: readonly IrEndpoint[];
  /** Absent = `eds`. */
  readonly discovery?: IrEndpointDiscovery;
  /** Upstream protocol. */
  readonly protocol: "http1" | "http2";
  readonly connectTimeoutMs: number;
  readonly loadBalancer: IrLoadBalancer;
  readonly tls?: IrUpstreamTls;
  readonly circuitBreakers?: IrCircuitBreakers;
  readonly outlierDetection?: IrOutlierDetection;
  readonly healthCheck?: IrHealthCheck;
  /** The Service (namespace/name:port) it reaches, for people reading config dumps. */
  readonly service?: string;
}
