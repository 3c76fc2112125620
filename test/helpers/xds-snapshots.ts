// Builds real, encoded xDS resources and snapshot sets for the ADS server tests (the
// translator that produces them in the product is tested on its own).

import { createHash } from "node:crypto";
import { encodeResource, TYPE_URLS, type ResourceKind } from "../../src/xds/envoy-protos.js";
import type { EncodedResource, NodeSnapshot, ResourceSet, SnapshotSet } from "../../src/xds/snapshot.js";

function encoded(kind: ResourceKind, name: string, value: Record<string, unknown>): EncodedResource {
  const bytes = encodeResource(TYPE_URLS[kind], value);
  return { name, typeUrl: TYPE_URLS[kind], value: bytes, version: createHash("sha256").update(bytes).digest("hex").slice(0, 16) };
}

export const res = {
  cluster: (name: string, connectTimeoutSeconds = 1) =>
    encoded("cluster", name, { name, type: "EDS", edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } }, connectTimeout: { seconds: connectTimeoutSeconds } }),
  endpoints: (name: string, ...addresses: string[]) =>
    encoded("endpoint", name, {
      clusterName: name,
      endpoints: [{ lbEndpoints: addresses.map((a) => ({ endpoint: { address: { socketAddress: { address: a.split(":")[0], portValue: Number(a.split(":")[1] ?? 8080) } } } })) }],
    }),
  listener: (name: string, routeName: string, port = 8080) =>
    encoded("listener", name, {
      name,
      address: { socketAddress: { address: "127.0.0.1", portValue: port } },
      filterChains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typedConfig: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                statPrefix: name,
                rds: { routeConfigName: routeName, configSource: { ads: {}, resourceApiVersion: "V3" } },
                httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
              },
            },
          ],
        },
      ],
    }),
  route: (name: string, cluster: string, prefix = "/") =>
    encoded("route", name, { name, virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix }, route: { cluster } }] }] }),
  secret: (name: string, chainPem: string, keyPem: string) =>
    encoded("secret", name, { name, tlsCertificate: { certificateChain: { inlineString: chainPem }, privateKey: { inlineString: keyPem } } }),
};

export function resourceSet(...resources: EncodedResource[]): ResourceSet {
  return new Map(resources.map((r) => [r.name, r]));
}

export function node(version: string, r: Partial<Record<ResourceKind, EncodedResource[] | ResourceSet>> = {}): NodeSnapshot {
  const set = (k: ResourceKind): ResourceSet => {
    const v = r[k];
    return v instanceof Map ? v : resourceSet(...((v as EncodedResource[] | undefined) ?? []));
  };
  return { version, resources: { listener: set("listener"), route: set("route"), cluster: set("cluster"), endpoint: set("endpoint"), secret: set("secret") } };
}

export function snapshotSet(version: string, nodes: Record<string, NodeSnapshot>, fallback: NodeSnapshot = node(version)): SnapshotSet {
  return { version, nodes: new Map(Object.entries(nodes)), fallback };
}
