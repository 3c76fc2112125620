// IrCluster -> envoy.config.cluster.v3.Cluster (endpoints over EDS under the same name, or
// inline for `static` and `dns` clusters), and the clusters the proxy needs to fetch
// remote JWKS.

import type { IrCluster, IrLoadBalancer, IrUpstreamTls } from "../../ir/index.js";
import { ADS_CONFIG_SOURCE, ANY_TYPES, duration, FILTER_NAMES, sdsSecretConfig, wrap, type Json } from "./common.js";
import { clusterLoadAssignment } from "./cluster-load-assignment.js";
import { validationContext } from "./listener.js";

/**
 * Least-request and random are also given as a load balancing policy list ending in
 * round robin: gRPC clients reject a cluster whose lbPolicy they do not implement, but
 * take the first policy of the list they know. Envoy uses the list's first entry.
 */
const LB_POLICY_LIST: Partial<Record<IrLoadBalancer, string>> = { LEAST_REQUEST: ANY_TYPES.leastRequest, RANDOM: ANY_TYPES.random };

export function clusterResource(c: IrCluster): Json {
  const discovery = c.discovery ?? "eds";
  const out: Json =
    discovery === "eds"
      ? { name: c.name, type: "EDS", edsClusterConfig: { edsConfig: ADS_CONFIG_SOURCE } }
      : // STRICT_DNS keeps every address the name resolves to (a Kubernetes Service's
        // ClusterIP, or each pod of a headless Service).
        { name: c.name, type: discovery === "static" ? "STATIC" : "STRICT_DNS", loadAssignment: clusterLoadAssignment(c) };
  out.connectTimeout = duration(c.connectTimeoutMs);
  out.lbPolicy = c.loadBalancer;
  const preferred = LB_POLICY_LIST[c.loadBalancer];
  if (preferred) {
    out.loadBalancingPolicy = {
      policies: [
        { typedExtensionConfig: { name: `envoy.load_balancing_policies.${c.loadBalancer.toLowerCase()}`, typedConfig: { "@type": preferred } } },
        { typedExtensionConfig: { name: "envoy.load_balancing_policies.round_robin", typedConfig: { "@type": ANY_TYPES.roundRobin } } },
      ],
    };
  }
  if (c.protocol === "http2") {
    out.typedExtensionProtocolOptions = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": ANY_TYPES.httpProtocolOptions, explicitHttpConfig: { http2ProtocolOptions: {} } },
    };
  }
  if (c.circuitBreakers) {
    const b = c.circuitBreakers;
    const threshold: Json = { priority: "DEFAULT" };
    if (b.maxConnections !== undefined) threshold.maxConnections = wrap(b.maxConnections);
    if (b.maxPendingRequests !== undefined) threshold.maxPendingRequests = wrap(b.maxPendingRequests);
    if (b.maxRequests !== undefined) threshold.maxRequests = wrap(b.maxRequests);
    if (b.maxRetries !== undefined) threshold.maxRetries = wrap(b.maxRetries);
    out.circuitBreakers = { thresholds: [threshold] };
  }
  if (c.outlierDetection) {
    const o = c.outlierDetection;
    const od: Json = {};
    if (o.consecutive5xx !== undefined) od.consecutive_5xx = wrap(o.consecutive5xx);
    if (o.consecutiveGatewayErrors !== undefined) {
      od.consecutiveGatewayFailure = wrap(o.consecutiveGatewayErrors);
      // Envoy enforces gateway-failure ejection at 0% unless told otherwise.
      od.enforcingConsecutiveGatewayFailure = wrap(100);
    }
    if (o.intervalMs !== undefined) od.interval = duration(o.intervalMs);
    if (o.baseEjectionTimeMs !== undefined) od.baseEjectionTime = duration(o.baseEjectionTimeMs);
    if (o.maxEjectionPercent !== undefined) od.maxEjectionPercent = wrap(o.maxEjectionPercent);
    out.outlierDetection = od;
  }
  if (c.healthCheck) {
    const h = c.healthCheck;
    const http: Json = { path: h.path };
    // Int64Range's end is exclusive.
    if (h.expectedStatuses && h.expectedStatuses.length > 0) http.expectedStatuses = h.expectedStatuses.map((s) => ({ start: s, end: s + 1 }));
    out.healthChecks = [
      {
        timeout: duration(h.timeoutMs),
        interval: duration(h.intervalMs),
        unhealthyThreshold: wrap(h.unhealthyThreshold),
        healthyThreshold: wrap(h.healthyThreshold),
        httpHealthCheck: http,
      },
    ];
  }
  if (c.tls) out.transportSocket = { name: FILTER_NAMES.tlsTransport, typedConfig: upstreamTlsContext(c.tls) };
  return out;
}

function upstreamTlsContext(t: IrUpstreamTls): Json {
  const common: Json = { ...validationContext(t.validationSecret, t.subjectAltNames) };
  if (t.clientCertificate) common.tlsCertificateSdsSecretConfigs = [sdsSecretConfig(t.clientCertificate)];
  if (t.alpn && t.alpn.length > 0) common.alpnProtocols = [...t.alpn];
  const out: Json = { "@type": ANY_TYPES.upstreamTls, commonTlsContext: common };
  if (t.sni) out.sni = t.sni;
  return out;
}

// ---- remote JWKS ---------------------------------------------------------------------

/** The CA bundle on the proxy's host that public JWKS endpoints are verified against. */
export const SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";
const JWKS_CONNECT_TIMEOUT_MS = 5_000;

function jwksTarget(uri: string): { host: string; port: number; tls: boolean } {
  const url = new URL(uri);
  const tls = url.protocol === "https:";
  return { host: url.hostname, port: url.port ? Number(url.port) : tls ? 443 : 80, tls };
}

/** `jwks|<host>:<port>`: one cluster per JWKS server, shared by all providers using it. */
export function jwksClusterName(uri: string): string {
  const t = jwksTarget(uri);
  return `jwks|${t.host}:${t.port}`;
}

/**
 * A JWKS server is an ordinary DNS name outside the mesh: a LOGICAL_DNS cluster (one
 * host, re-resolved; a type gRPC also accepts), TLS verified against the system CAs and
 * the URI's host name. Envoy checks no name unless told to: without the SAN match any
 * publicly trusted certificate would be accepted, and whoever answers for the name could
 * serve the keys that tokens are verified with.
 */
export function jwksClusterResource(uri: string): Json {
  const t = jwksTarget(uri);
  const name = jwksClusterName(uri);
  const out: Json = {
    name,
    type: "LOGICAL_DNS",
    connectTimeout: duration(JWKS_CONNECT_TIMEOUT_MS),
    lbPolicy: "ROUND_ROBIN",
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: t.host, portValue: t.port } } } }] }] },
  };
  if (t.tls) {
    out.transportSocket = {
      name: FILTER_NAMES.tlsTransport,
      typedConfig: {
        "@type": ANY_TYPES.upstreamTls,
        sni: t.host,
        commonTlsContext: { validationContext: { trustedCa: { filename: SYSTEM_CA_FILE }, matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: t.host } }] } },
      },
    };
  }
  return out;
}
