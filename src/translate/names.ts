// Stable names for what the translator emits. Every name is derived from the resources
// it comes from, never from iteration order, so translating twice gives the same names
// and a proxy keeps its resources (and their versions) across unrelated changes.

import type { ServiceModel } from "../model/index.js";

export const CLUSTER_DOMAIN = "svc.cluster.local";

/** `reviews.bookinfo.svc.cluster.local`. */
export function serviceHost(svc: Pick<ServiceModel, "name" | "namespace">): string {
  return `${svc.name}.${svc.namespace}.${CLUSTER_DOMAIN}`;
}

/** Istio's outbound cluster name: `outbound|9080||reviews.bookinfo.svc.cluster.local`. */
export function outboundClusterName(svc: Pick<ServiceModel, "name" | "namespace">, port: number): string {
  return `outbound|${port}||${serviceHost(svc)}`;
}

/** The local application behind a sidecar: `inbound|9080||bookinfo/reviews-v1`. */
export function inboundClusterName(namespace: string, workload: string, port: number): string {
  return `inbound|${port}||${namespace}/${workload}`;
}

export const routeTableNames = {
  /** All HTTP listeners of a Gateway on one port share it. */
  gatewayHttp: (ns: string, gateway: string, port: number) => `gateway|${ns}|${gateway}|${port}`,
  /** Each HTTPS listener has its own (its filter chain is chosen by SNI). */
  gatewayHttps: (ns: string, gateway: string, port: number, listener: string) => `gateway|${ns}|${gateway}|${port}|${listener}`,
  sidecarInbound: (ns: string, workload: string) => `inbound|${ns}|${workload}`,
  /** Outbound tables are per client namespace: short names and consumer routes depend on it. */
  sidecarOutbound: (clientNamespace: string) => `outbound|${clientNamespace}`,
  /**
   * A sidecar upstream's table: that one Service port for any Host, as a client in
   * `clientNamespace` sees it; shared by the sidecars of the namespace that use it.
   */
  sidecarUpstream: (clientNamespace: string, svc: Pick<ServiceModel, "name" | "namespace">, port: number) => `upstream|${clientNamespace}|${serviceHost(svc)}:${port}`,
  /** The proxyless client's table is named like its listener, `host:port`. */
  client: (svc: Pick<ServiceModel, "name" | "namespace">, port: number) => `${serviceHost(svc)}:${port}`,
};

/** Secret name of a Kubernetes Secret (listener certificate, backend client certificate). */
export function kubeSecretName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Plain string order (not locale order): the same everywhere, every time. */
export function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort(byString);
}
