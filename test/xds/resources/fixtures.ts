// Hand-built IR for the xDS resource tests: a gateway, a sidecar and the proxyless gRPC
// client view, sharing clusters and a route table; plus a real CA for the secrets.

import {
  createIntermediateCa,
  createRootCa,
  FastSvidIssuer,
  TrustDomain,
} from "../../../src/pki/index.js";
import { CaCertificateSource } from "../../../src/xds/certificate-source.js";
import { decodeResource } from "../../../src/xds/envoy-protos.js";
import type { EncodedResource } from "../../../src/xds/snapshot.js";
import type {
  IrCluster,
  IrHttpConnectionManager,
  IrListener,
  IrProxy,
  IrRoute,
  IrRouteTable,
  IrSnapshot,
} from "../../../src/ir/index.js";

export const TRUST_DOMAIN = "mesh.example";

/** A real root and intermediate; SVIDs issued by the fast path. */
export async function testCertificateSource(): Promise<{ source: CaCertificateSource; rootPem: string }> {
  const td = TrustDomain.parse(TRUST_DOMAIN);
  const root = await createRootCa({ trustDomain: td });
  const intermediate = await createIntermediateCa(root, { mesh: "default" });
  const source = new CaCertificateSource({ issuer: new FastSvidIssuer(intermediate), roots: new Map([[TRUST_DOMAIN, root.certificatePem]]) });
  return { source, rootPem: root.certificatePem };
}

/** Decodes an encoded resource to a plain object (any-typed: tests poke into it). */
export function decoded(r: EncodedResource | undefined): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!r) throw new Error("resource missing");
  return decodeResource(r.typeUrl, r.value);
}

export function cluster(name: string, over: Partial<IrCluster> = {}): IrCluster {
  return {
    name,
    endpoints: [
      { address: "10.0.0.1", port: 9080, healthy: true, zone: "zone-a" },
      { address: "10.0.0.2", port: 9080, healthy: false, zone: "zone-b", weight: 3 },
    ],
    protocol: "http1",
    connectTimeoutMs: 5000,
    loadBalancer: "ROUND_ROBIN",
    ...over,
  };
}

export function hcm(routeTable: string, over: Partial<IrHttpConnectionManager> = {}): IrHttpConnectionManager {
  return {
    statPrefix: routeTable.replace(/[^a-z0-9]/gi, "_"),
    routeTable,
    filters: {},
    forwardClientCert: false,
    normalizePath: true,
    mergeSlashes: true,
    escapedSlashes: "UnescapeAndRedirect",
    ...over,
  };
}

export function simpleRoute(name: string, clusterName: string, over: Partial<IrRoute> = {}): IrRoute {
  return {
    name,
    match: { path: { kind: "PathPrefix", value: "/" }, headers: [], queryParams: [] },
    action: { kind: "forward", backends: [{ cluster: clusterName, weight: 1 }] },
    source: { kind: "HTTPRoute", namespace: "apps", name: "r", rule: 0 },
    ...over,
  };
}

export function table(name: string, routes: IrRoute[], domains = ["*"]): IrRouteTable {
  return { name, virtualHosts: [{ name: `${name}/vh`, domains, routes }] };
}

export const REVIEWS = "outbound|9080||reviews.apps.svc.cluster.local";
export const RATINGS = "outbound|9080||ratings.apps.svc.cluster.local";

export function sidecar(name: string, over: Partial<IrProxy> = {}): IrProxy {
  const inbound: IrListener = {
    kind: "socket",
    name: "inbound|9080",
    address: "10.0.1.1",
    port: 19080,
    direction: "inbound",
    filterChains: [
      {
        name: "mtls",
        serverNames: [],
        transport: "tls",
        tls: { certificates: ["default"], clientValidation: { secret: "ROOTCA", subjectAltNames: [] }, requireClientCertificate: true, alpn: ["h2", "http/1.1"], minVersion: "1.2" },
        http: hcm("inbound|9080", { forwardClientCert: true }),
      },
    ],
  };
  const outbound: IrListener = { kind: "socket", name: "outbound|9080", address: "127.0.0.1", port: 29080, direction: "outbound", filterChains: [{ name: "plain", serverNames: [], transport: "raw", http: hcm("outbound|9080") }] };
  return {
    id: `sidecar~apps~${name}`,
    role: "sidecar",
    namespace: "apps",
    name,
    identity: `spiffe://${TRUST_DOMAIN}/ns/apps/sa/${name}`,
    listeners: [inbound, outbound],
    routeTables: ["inbound|9080", "outbound|9080"],
    clusters: [RATINGS, REVIEWS],
    secrets: [
      { name: "default", kind: "svid", spiffeId: `spiffe://${TRUST_DOMAIN}/ns/apps/sa/${name}` },
      { name: "ROOTCA", kind: "trust-bundle", trustDomains: [TRUST_DOMAIN] },
    ],
    ...over,
  };
}

export function clientProxy(over: Partial<IrProxy> = {}): IrProxy {
  return {
    id: "*",
    role: "client",
    namespace: "",
    name: "",
    listeners: [{ kind: "api", name: "reviews.apps:9080", http: hcm("outbound|9080") }],
    routeTables: ["outbound|9080"],
    clusters: [RATINGS, REVIEWS],
    // Even if the IR lists secrets here, the fallback view must not carry them.
    secrets: [{ name: "ROOTCA", kind: "trust-bundle", trustDomains: [TRUST_DOMAIN] }],
    ...over,
  };
}

/** Two sidecars and the client view, sharing two clusters and the outbound route table. */
export function meshSnapshot(over: { clusters?: IrCluster[]; version?: number } = {}): IrSnapshot {
  const clusters = over.clusters ?? [cluster(REVIEWS), cluster(RATINGS)];
  const tables = [
    table("inbound|9080", [simpleRoute("inbound", "inbound|9080|local")]),
    table("outbound|9080", [simpleRoute("reviews", REVIEWS)], ["reviews.apps", "reviews.apps:9080"]),
  ];
  const local = cluster("inbound|9080|local", { endpoints: [{ address: "127.0.0.1", port: 9080, healthy: true }] });
  const proxies = [clientProxy(), sidecar("productpage", { clusters: ["inbound|9080|local", RATINGS, REVIEWS] }), sidecar("reviews-v1", { clusters: ["inbound|9080|local", RATINGS, REVIEWS] })];
  return {
    version: over.version ?? 1,
    proxies,
    routeTables: new Map(tables.map((t) => [t.name, t])),
    clusters: new Map([...clusters, local].map((c) => [c.name, c])),
  };
}
