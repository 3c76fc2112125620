// Clusters and their endpoints: one cluster per Service port (Istio's
// `outbound|<port>||<host>` name), in the variant the calling proxy can use.
//
// - Services backed by mesh Workloads: the endpoints are the Workloads' sidecars
//   (`address:inboundPort`), reached over mesh mTLS: the proxy's SVID (`default`), the
//   mesh trust bundle (`ROOTCA`), and the upstream must present one of the backing
//   Workloads' SPIFFE IDs; SNI is the Service host.
//   A proxy without an identity (a Gateway outside every mesh, the proxyless client
//   view) cannot present a certificate: it reaches the same sidecars in plaintext
//   (`|plaintext` cluster), so the sidecar's own policy decides (STRICT refuses it,
//   PERMISSIVE admits it as an unauthenticated peer). The application port itself is
//   never exposed, so sidecar policy always applies.
//   Sidecars whose inbound mode is DISABLE accept plaintext only (Istio's clients then
//   send plaintext too): when every backing Workload is DISABLE the Service is reached in
//   plaintext by everyone; when only some are, the cluster speaks mTLS and leaves those
//   out (one cluster has one transport; mTLS to a plaintext-only sidecar always fails).
//   A BackendTLSPolicy on such a Service replaces `ROOTCA` with its CA bundle for callers
//   that speak mTLS (see backend-tls-policy.ts); one that cannot be used makes the Service
//   unreachable for them (500), as for any Service whose owner asked for TLS.
// - Services backed by Workloads that are in no mesh (they have no sidecar): the
//   applications themselves, in plaintext.
// - Other Services: their EndpointSlice endpoints, in plaintext, or over TLS when a
//   BackendTLSPolicy targets the port (see backend-tls-policy.ts). Proxyless clients get
//   no secrets, so such a Service is unreachable from the client view (no cluster: the
//   share gets 500) instead of being called in plaintext.
// Name suffixes keep variants apart: `|plaintext`, `|client-cert=<secret>` (a Gateway's
// own backend client certificate), `|h2` (HTTP/2 forced by a GRPCRoute), `|policy=<key>`
// (BackendTrafficPolicy settings).

import type { IrCluster, IrEndpoint, IrSanMatch, IrSecret, IrUpstreamTls } from "../ir/index.js";
import { SVID_SECRET, TRUST_BUNDLE_SECRET } from "../ir/index.js";
import type { Model, ServiceModel, ServicePortModel, WorkloadModel } from "../model/index.js";
import { backendTlsFor } from "./backend-tls-policy.js";
import { mtlsModeFor } from "./security/peer-authentication.js";
import type { ClusterTrafficSettings } from "./backend-traffic-policy.js";
import { byString, outboundClusterName, serviceHost, sortedUnique } from "./names.js";

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** What the proxy that uses a cluster can present and verify. */
export interface ClusterContext {
  /** The proxy holds an SVID (`default`) and a mesh trust bundle (`ROOTCA`). */
  readonly meshIdentity: boolean;
  /** What it presents to BackendTLSPolicy upstreams: its own certificate, its SVID, or nothing. */
  readonly backendClientCertificate: Extract<IrSecret, { kind: "certificate" }> | typeof SVID_SECRET | undefined;
  /** Proxyless gRPC clients receive no secrets at all. */
  readonly proxyless: boolean;
}

export interface ClusterRequest {
  /** The route is a GRPCRoute: the upstream must speak HTTP/2. */
  readonly grpc: boolean;
  readonly traffic?: ClusterTrafficSettings | undefined;
}

const H2_APP_PROTOCOLS = new Set(["kubernetes.io/h2c", "grpc", "h2c", "http2"]);

/** Collects every cluster (and the shared secrets they name) a translation emits. */
export class ClusterRegistry {
  readonly clusters = new Map<string, IrCluster>();
  /** Certificates and CA bundles that clusters name, by secret name. */
  readonly secrets = new Map<string, IrSecret>();
  readonly #workloads: ReadonlyMap<string, WorkloadModel>;

  constructor(private readonly model: Model) {
    this.#workloads = new Map(model.workloads.map((w) => [`${w.namespace}/${w.name}`, w]));
  }

  /** The cluster name for this Service port in this context, or undefined when it cannot be reached from it. */
  serviceCluster(svc: ServiceModel, port: ServicePortModel, ctx: ClusterContext, req: ClusterRequest): string | undefined {
    const backing = svc.workloads.map((k) => this.#workloads.get(k)).filter((w): w is WorkloadModel => w !== undefined);
    const meshed = backing.filter((w) => w.mesh !== undefined);
    let protocol: IrCluster["protocol"] = H2_APP_PROTOCOLS.has(port.appProtocol ?? "") || backing.some((w) => w.protocol !== "HTTP") ? "http2" : "http1";
    const suffix: string[] = [];
    let endpoints: IrEndpoint[];
    let tls: Omit<IrUpstreamTls, "alpn"> | undefined;
    let alpn = false;
    if (meshed.length > 0) {
      const acceptMtls = meshed.filter((w) => mtlsModeFor(this.model, w, w.port) !== "DISABLE");
      const useMtls = ctx.meshIdentity && acceptMtls.length > 0;
      endpoints = (useMtls ? acceptMtls : meshed).map((w) => ({ address: w.address, port: w.inboundPort, healthy: true }));
      if (useMtls) {
        const sans: IrSanMatch[] = sortedUnique(acceptMtls.map((w) => w.spiffeId!)).map((value) => ({ type: "URI", value }));
        const policy = backendTlsFor(this.model, svc, port);
        if (policy && !policy.usable) return undefined;
        if (policy?.usable) {
          this.#secret(policy.caSecret);
          tls = { sni: policy.sni, clientCertificate: SVID_SECRET, validationSecret: policy.caSecret.name, subjectAltNames: policy.subjectAltNamesGiven ? policy.subjectAltNames : sans };
        } else tls = { sni: serviceHost(svc), clientCertificate: SVID_SECRET, validationSecret: TRUST_BUNDLE_SECRET, subjectAltNames: sans };
        alpn = true;
      } else suffix.push("plaintext");
    } else if (backing.length > 0) {
      endpoints = backing.map((w) => ({ address: w.address, port: w.port, healthy: true }));
    } else {
      endpoints = port.endpoints.map((e) => ({ address: e.address, port: e.port, healthy: e.ready, ...(e.zone ? { zone: e.zone } : {}) }));
      const policy = backendTlsFor(this.model, svc, port);
      if (policy) {
        if (!policy.usable || ctx.proxyless) return undefined;
        this.#secret(policy.caSecret);
        const cert = ctx.backendClientCertificate;
        let clientCertificate: string | undefined;
        if (cert === SVID_SECRET) clientCertificate = SVID_SECRET;
        else if (cert) {
          this.#secret(cert);
          clientCertificate = cert.name;
        }
        if (clientCertificate) suffix.push(`client-cert=${clientCertificate}`);
        tls = { sni: policy.sni, validationSecret: policy.caSecret.name, subjectAltNames: policy.subjectAltNames, ...(clientCertificate ? { clientCertificate } : {}) };
      }
    }
    if (req.grpc && protocol === "http1") {
      protocol = "http2";
      suffix.push("h2");
    }
    const traffic = req.traffic;
    if (traffic) suffix.push(`policy=${traffic.key}`);
    const name = [outboundClusterName(svc, port.port), ...suffix].join("|");
    if (!this.clusters.has(name)) {
      this.clusters.set(name, {
        name,
        endpoints: endpoints.sort(byEndpoint),
        protocol,
        connectTimeoutMs: traffic?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        loadBalancer: traffic?.loadBalancer ?? "ROUND_ROBIN",
        ...(tls ? { tls: alpn ? { ...tls, alpn: protocol === "http2" ? ["h2"] : ["http/1.1"] } : tls } : {}),
        ...(traffic?.circuitBreakers ? { circuitBreakers: traffic.circuitBreakers } : {}),
        ...(traffic?.outlierDetection ? { outlierDetection: traffic.outlierDetection } : {}),
        ...(traffic?.healthCheck ? { healthCheck: traffic.healthCheck } : {}),
        service: `${svc.namespace}/${svc.name}:${port.port}`,
      });
    }
    return name;
  }

  /** A cluster built elsewhere (a sidecar's local application). */
  add(cluster: IrCluster): string {
    if (!this.clusters.has(cluster.name)) this.clusters.set(cluster.name, cluster);
    return cluster.name;
  }

  #secret(s: IrSecret) {
    if (!this.secrets.has(s.name)) this.secrets.set(s.name, s);
  }
}

function byEndpoint(a: IrEndpoint, b: IrEndpoint): number {
  return byString(a.address, b.address) || a.port - b.port;
}
