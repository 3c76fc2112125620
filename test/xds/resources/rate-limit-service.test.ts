// The ratelimit filter and the rate limit service's cluster as Envoy receives them:
// encoded (strictly: unknown fields fail), decoded back and checked field by field.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { IrSnapshot } from "../../../src/ir/index.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { buildSnapshots } from "../../../src/xds/resources/build-snapshots.js";
import { clusterResource } from "../../../src/xds/resources/cluster.js";
import { ANY_TYPES } from "../../../src/xds/resources/common.js";
import { listenerResource } from "../../../src/xds/resources/listener.js";
import { cluster, decoded, hcm, simpleRoute, table, testCertificateSource } from "./fixtures.js";

const cds = (c: Parameters<typeof clusterResource>[0]): any => decodeResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, clusterResource(c))); // eslint-disable-line @typescript-eslint/no-explicit-any

const RL = "meshgate|ratelimit";

test("a static cluster carries its endpoints inline and speaks HTTP/2", () => {
  const c = cds(cluster(RL, { discovery: "static", protocol: "http2", connectTimeoutMs: 1000, endpoints: [{ address: "10.0.9.9", port: 18081, healthy: true }] }));
  assert.equal(c.type, "STATIC");
  assert.equal(c.edsClusterConfig, undefined);
  assert.equal(c.loadAssignment.clusterName, RL);
  assert.deepEqual(c.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress, { address: "10.0.9.9", portValue: 18081 });
  assert.deepEqual(c.connectTimeout, { seconds: 1 });
  const options = c.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  assert.equal(options["@type"], ANY_TYPES.httpProtocolOptions);
  assert.deepEqual(options.explicitHttpConfig, { http2ProtocolOptions: {} });
});

test("a DNS cluster resolves its host name (STRICT_DNS)", () => {
  const c = cds(cluster(RL, { discovery: "dns", protocol: "http2", endpoints: [{ address: "ratelimit.infra.svc.cluster.local", port: 8081, healthy: true }] }));
  assert.equal(c.type, "STRICT_DNS");
  assert.deepEqual(c.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress, { address: "ratelimit.infra.svc.cluster.local", portValue: 8081 });
});

test("the ratelimit filter: service cluster, stage 0, fail open, RESOURCE_EXHAUSTED for gRPC", () => {
  const l = decodeResource(
    TYPE_URLS.listener,
    encodeResource(
      TYPE_URLS.listener,
      listenerResource(
        { kind: "socket", name: "l", address: "0.0.0.0", port: 80, direction: "gateway", filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("t", { filters: { globalRateLimit: { domain: "meshgate", rules: [], serviceCluster: RL } } }) }] },
        { routesHaveLocalRateLimits: () => false },
      ),
    ),
  ) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const filters = l.filterChains[0].filters[0].typedConfig.httpFilters;
  assert.deepEqual(filters.map((f: { name: string }) => f.name), ["envoy.filters.http.ratelimit", "envoy.filters.http.router"]);
  const rl = filters[0].typedConfig;
  assert.equal(rl["@type"], ANY_TYPES.rateLimit);
  assert.equal(rl.domain, "meshgate");
  assert.equal(rl.stage ?? 0, 0);
  // proto3 false is not on the wire: failing open is the default and must stay so.
  assert.notEqual(rl.failureModeDeny, true);
  assert.equal(rl.rateLimitedAsResourceExhausted, true);
  assert.deepEqual(rl.timeout, { seconds: 1 });
  assert.deepEqual(rl.rateLimitService, { grpcService: { envoyGrpc: { clusterName: RL } }, transportApiVersion: "V3" });
});

test("a proxy gets the static cluster in CDS and nothing for it in EDS; routes keep their own domain", async () => {
  const { source } = await testCertificateSource();
  const t = table("gw", [
    simpleRoute("limited", "web", { globalRateLimit: { domain: "infra/limits", rules: [{ id: "infra/limits/rule/0", clientSelectors: [], requests: 5, unit: "Minute" }] } }),
  ]);
  const ir: IrSnapshot = {
    version: 1,
    proxies: [
      {
        id: "gateway~infra~gw",
        role: "gateway",
        namespace: "infra",
        name: "gw",
        listeners: [{ kind: "socket", name: "l", address: "0.0.0.0", port: 80, direction: "gateway", filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("gw", { filters: { globalRateLimit: { domain: "meshgate", rules: [], serviceCluster: RL } } }) }] }],
        routeTables: ["gw"],
        clusters: [RL, "web"],
        secrets: [],
      },
    ],
    routeTables: new Map([[t.name, t]]),
    clusters: new Map([cluster("web"), cluster(RL, { discovery: "static", protocol: "http2", endpoints: [{ address: "127.0.0.1", port: 18081, healthy: true }] })].map((c) => [c.name, c])),
  };
  const node = buildSnapshots(ir, source).nodes.get("gateway~infra~gw")!;
  assert.deepEqual([...node.resources.cluster.keys()].sort(), [RL, "web"]);
  assert.deepEqual([...node.resources.endpoint.keys()], ["web"]);
  assert.equal(decoded(node.resources.cluster.get(RL)).type, "STATIC");
  const route = decoded(node.resources.route.get("gw")).virtualHosts[0].routes[0];
  assert.equal(route.typedPerFilterConfig["envoy.filters.http.ratelimit"].domain, "infra/limits");
  assert.deepEqual(route.route.rateLimits[0].actions, [{ genericKey: { descriptorKey: "rule", descriptorValue: "infra/limits/rule/0" } }]);
});
