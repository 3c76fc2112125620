import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResource, encodeResource, TYPE_URLS } from "../../src/xds/envoy-protos.js";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

test("a Listener with an HTTP connection manager (an Any inside an Any) round-trips", () => {
  const listener = {
    name: "infra/edge/http",
    address: { socketAddress: { address: "127.0.0.2", portValue: 8080 } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type": HCM,
              statPrefix: "edge_http",
              rds: { routeConfigName: "infra/edge/http", configSource: { ads: {}, resourceApiVersion: "V3" } },
              httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER } }],
            },
          },
        ],
      },
    ],
  };
  const bytes = encodeResource(TYPE_URLS.listener, listener);
  assert.ok(bytes.length > 50);
  const back = decodeResource(TYPE_URLS.listener, bytes) as typeof listener;
  assert.equal(back.name, "infra/edge/http");
  assert.equal(back.address.socketAddress.portValue, 8080);
  const hcm = back.filterChains[0]!.filters[0]!.typedConfig as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(hcm["@type"], HCM);
  assert.equal(hcm.rds.routeConfigName, "infra/edge/http");
  assert.equal(hcm.rds.configSource.resourceApiVersion, "V3");
  assert.equal(hcm.httpFilters[0]["typedConfig"]["@type"], ROUTER);
});

test("Cluster, ClusterLoadAssignment and RouteConfiguration encode", () => {
  const cluster = { name: "apps/web/80", type: "EDS", edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } }, connectTimeout: { seconds: 5 }, lbPolicy: "LEAST_REQUEST" };
  assert.deepEqual((decodeResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, cluster)) as typeof cluster).lbPolicy, "LEAST_REQUEST");
  const cla = { clusterName: "apps/web/80", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "127.0.0.1", portValue: 8081 } } } }] }] };
  assert.equal((decodeResource(TYPE_URLS.endpoint, encodeResource(TYPE_URLS.endpoint, cla)) as typeof cla).clusterName, "apps/web/80");
  const rc = {
    name: "infra/edge/http",
    virtualHosts: [{ name: "any", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ name: "apps/web/80", weight: { value: 90 } }, { name: "apps/web-canary/80", weight: { value: 10 } }] } } }] }],
  };
  const back = decodeResource(TYPE_URLS.route, encodeResource(TYPE_URLS.route, rc)) as typeof rc;
  assert.equal(back.virtualHosts[0]!.routes[0]!.route.weightedClusters.clusters[1]!.weight.value, 10);
});

test("a field that is not in the message is refused, not silently dropped", () => {
  assert.throws(() => encodeResource(TYPE_URLS.cluster, { name: "x", lbPolicy: "NOT_A_POLICY" }), /lbPolicy/);
});

test("a misspelt field deep inside an Any is refused with its path", () => {
  assert.throws(
    () =>
      encodeResource(TYPE_URLS.listener, {
        name: "l",
        filterChains: [{ filters: [{ name: "hcm", typedConfig: { "@type": HCM, statPrefix: "x", routeConfig: { virtualHost: [] } } }] }],
      }),
    /Listener\.filterChains\[0\]\.filters\[0\]\.typedConfig<envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager>\.routeConfig\.virtualHost: no such field/,
  );
});
