// The proxyless gRPC client's own validation (from @grpc/grpc-js-xds, the library that
// reads these resources) applied to what the `*` view serves: the API listener, the
// route table in its gRPC form, clusters and endpoints. gRPC rejects whole resources for
// features it does not support, so every one must pass.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { buildSnapshots } from "../../../src/xds/resources/build-snapshots.js";
import type { EncodedResource } from "../../../src/xds/snapshot.js";
import type { IrSnapshot } from "../../../src/ir/index.js";
import { cluster, clientProxy, hcm, meshSnapshot, RATINGS, REVIEWS, simpleRoute, table, testCertificateSource } from "./fixtures.js";

const require = createRequire(import.meta.url);
const grpcXds = require("@grpc/grpc-js-xds") as { register(): void };
grpcXds.register(); // installs gRPC's HTTP filters and load balancing policies
const BUILD = "@grpc/grpc-js-xds/build/src/xds-resource-type";
interface ResourceType {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): { name: string; error?: string };
}
const TYPES: Record<string, ResourceType> = {
  listener: require(`${BUILD}/listener-resource-type.js`).ListenerResourceType.get(),
  route: require(`${BUILD}/route-config-resource-type.js`).RouteConfigurationResourceType.get(),
  cluster: require(`${BUILD}/cluster-resource-type.js`).ClusterResourceType.get(),
  endpoint: require(`${BUILD}/endpoint-resource-type.js`).EndpointResourceType.get(),
};
const CONTEXT = { bootstrap: { certificateProviders: {}, servers: [], node: {}, authorities: {} } };

function grpcErrors(kind: string, r: EncodedResource): string | undefined {
  return TYPES[kind]!.decode(CONTEXT, { type_url: r.typeUrl, value: Buffer.from(r.value) }).error;
}

const { source } = await testCertificateSource();

function richSnapshot(): IrSnapshot {
  const base = meshSnapshot();
  const outbound = table("outbound|9080", [
    simpleRoute("prefix", REVIEWS, {
      match: { path: { kind: "PathPrefix", value: "/reviews.Reviews/" }, headers: [{ name: "x-v", kind: "Exact", value: "2" }], queryParams: [] },
      action: {
        kind: "forward",
        backends: [{ cluster: REVIEWS, weight: 80 }, { weight: 20 }],
        retry: { attempts: 2, on: ["unavailable"], backoff: { baseMs: 25, maxMs: 250 } },
        timeoutMs: 3000,
        pathRewrite: { kind: "ReplacePrefixMatch", prefix: "/reviews.Reviews/", value: "/v2.Reviews/" },
      },
      localRateLimit: { rules: [{ id: "apps/rl/rule/0", clientSelectors: [], requests: 100, unit: "Second" }] },
      globalRateLimit: { domain: "apps/rl", rules: [{ id: "apps/rl/rule/1", clientSelectors: [{ headers: [{ name: "x-user", kind: "Distinct" }] }], requests: 5, unit: "Minute" }] },
    }),
    simpleRoute("redirect", REVIEWS, { action: { kind: "redirect", scheme: "https", statusCode: 301 } }),
    simpleRoute("direct", REVIEWS, { action: { kind: "direct", status: 503, body: "down" } }),
    simpleRoute("rest", RATINGS),
  ]);
  const client = clientProxy({
    listeners: [
      {
        kind: "api",
        name: "reviews.apps:9080",
        http: hcm("outbound|9080", {
          idleTimeoutMs: 30_000,
          filters: {
            jwtAuthn: { providers: [{ name: "p", issuer: "https://idp", audiences: [], jwks: { inline: "{}" }, fromHeaders: [], fromParams: [], fromCookies: [], forwardOriginalToken: false, outputClaimToHeaders: [] }] },
            authorization: { policies: [{ name: "apps/a", action: "ALLOW", rules: [{ from: [{ namespaces: ["apps"] }] }] }] },
            localRateLimit: { rules: [] },
            globalRateLimit: { domain: "apps/rl", rules: [], serviceCluster: "ratelimit" },
          },
        }),
      },
    ],
  });
  return {
    ...base,
    proxies: [client],
    routeTables: new Map([[outbound.name, outbound]]),
    clusters: new Map([
      [REVIEWS, cluster(REVIEWS, { loadBalancer: "LEAST_REQUEST", protocol: "http2", circuitBreakers: { maxRequests: 100 }, outlierDetection: { consecutive5xx: 3, intervalMs: 5000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 } })],
      [RATINGS, cluster(RATINGS, { loadBalancer: "RANDOM" })],
    ]),
  };
}

test("grpc-js-xds accepts every resource of the `*` view (API listener, gRPC-form routes, clusters, endpoints)", () => {
  const set = buildSnapshots(richSnapshot(), source);
  let checked = 0;
  for (const kind of ["listener", "route", "cluster", "endpoint"] as const) {
    for (const r of set.fallback.resources[kind].values()) {
      assert.equal(grpcErrors(kind, r), undefined, `${kind} ${r.name}`);
      checked++;
    }
  }
  assert.equal(checked, 1 + 1 + 2 + 2);
});

test("the same table in the Envoy form would be rejected by gRPC (so the gRPC form is needed)", () => {
  const ir = richSnapshot();
  // Served only to a socket listener: the Envoy form (path-separated prefix, redirect).
  const socketOnly = { ...ir, proxies: [clientProxy({ listeners: [{ kind: "socket", name: "l", address: "0.0.0.0", port: 80, direction: "gateway", filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("outbound|9080") }] }] })] };
  const route = buildSnapshots(socketOnly, source).fallback.resources.route.get("outbound|9080")!;
  assert.match(grpcErrors("route", route) ?? "", /unsupported path_specifier|unsupported action/);
});

test("gRPC's check does reject a required filter it does not know (the reason API listeners mark them optional)", async () => {
  const { encodeResource, TYPE_URLS } = await import("../../../src/xds/envoy-protos.js");
  const { httpConnectionManager } = await import("../../../src/xds/resources/http-connection-manager.js");
  const h = httpConnectionManager(hcm("t", { filters: { authorization: { policies: [{ name: "a/b", action: "DENY", rules: [{}] }] } } }), { api: false, routesHaveLocalRateLimits: false });
  const value = encodeResource(TYPE_URLS.listener, { name: "x:1", apiListener: { apiListener: h } });
  assert.match(grpcErrors("listener", { name: "x:1", version: "", typeUrl: TYPE_URLS.listener, value }) ?? "", /filter validation failed/);
});
