import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { clusterResource, jwksClusterResource } from "../../../src/xds/resources/cluster.js";
import { clusterLoadAssignment } from "../../../src/xds/resources/cluster-load-assignment.js";
import { ANY_TYPES } from "../../../src/xds/resources/common.js";
import type { IrCluster } from "../../../src/ir/index.js";
import { cluster } from "./fixtures.js";

const cds = (c: IrCluster): any => decodeResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, clusterResource(c))); // eslint-disable-line @typescript-eslint/no-explicit-any
const eds = (c: IrCluster): any => decodeResource(TYPE_URLS.endpoint, encodeResource(TYPE_URLS.endpoint, clusterLoadAssignment(c))); // eslint-disable-line @typescript-eslint/no-explicit-any

test("an EDS cluster over ADS with its connect timeout and round robin", () => {
  const c = cds(cluster("outbound|80||web"));
  assert.equal(c.name, "outbound|80||web");
  assert.equal(c.type, "EDS");
  assert.deepEqual(c.edsClusterConfig, { edsConfig: { ads: {}, resourceApiVersion: "V3" } });
  assert.deepEqual(c.connectTimeout, { seconds: 5 });
  assert.equal(c.lbPolicy, "ROUND_ROBIN");
  assert.equal(c.loadBalancingPolicy, undefined);
  assert.equal(c.typedExtensionProtocolOptions, undefined);
});

test("least request: lbPolicy plus a policy list falling back to round robin (for gRPC clients)", () => {
  const c = cds(cluster("c", { loadBalancer: "LEAST_REQUEST" }));
  assert.equal(c.lbPolicy, "LEAST_REQUEST");
  assert.deepEqual(
    c.loadBalancingPolicy.policies.map((p: any) => p.typedExtensionConfig.typedConfig["@type"]), // eslint-disable-line @typescript-eslint/no-explicit-any
    [ANY_TYPES.leastRequest, ANY_TYPES.roundRobin],
  );
});

test("HTTP/2 upstreams, circuit breakers, outlier detection, health checks", () => {
  const c = cds(
    cluster("c", {
      protocol: "http2",
      circuitBreakers: { maxConnections: 100, maxPendingRequests: 10, maxRequests: 1000, maxRetries: 3 },
      outlierDetection: { consecutive5xx: 5, consecutiveGatewayErrors: 2, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50 },
      healthCheck: { path: "/healthz", intervalMs: 5_000, timeoutMs: 1_000, unhealthyThreshold: 3, healthyThreshold: 2, expectedStatuses: [200, 204] },
    }),
  );
  const opts = c.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  assert.equal(opts["@type"], ANY_TYPES.httpProtocolOptions);
  assert.deepEqual(opts.explicitHttpConfig, { http2ProtocolOptions: {} });
  assert.deepEqual(c.circuitBreakers.thresholds, [{ priority: "DEFAULT", maxConnections: { value: 100 }, maxPendingRequests: { value: 10 }, maxRequests: { value: 1000 }, maxRetries: { value: 3 } }]);
  assert.deepEqual(c.outlierDetection, {
    consecutive_5xx: { value: 5 },
    consecutiveGatewayFailure: { value: 2 },
    enforcingConsecutiveGatewayFailure: { value: 100 },
    interval: { seconds: 10 },
    baseEjectionTime: { seconds: 30 },
    maxEjectionPercent: { value: 50 },
  });
  assert.deepEqual(c.healthChecks, [
    {
      timeout: { seconds: 1 },
      interval: { seconds: 5 },
      unhealthyThreshold: { value: 3 },
      healthyThreshold: { value: 2 },
      httpHealthCheck: { path: "/healthz", expectedStatuses: [{ start: 200, end: 201 }, { start: 204, end: 205 }] },
    },
  ]);
});

test("upstream TLS: SNI, SDS client certificate, SDS validation with SAN matchers, ALPN", () => {
  const c = cds(
    cluster("c", {
      tls: { sni: "reviews.apps.svc", clientCertificate: "default", validationSecret: "ROOTCA", subjectAltNames: [{ type: "URI", value: "spiffe://mesh.example/ns/apps/sa/reviews" }, { type: "DNS", value: "reviews.apps.svc" }], alpn: ["h2"] },
    }),
  );
  assert.equal(c.transportSocket.name, "envoy.transport_sockets.tls");
  const tls = c.transportSocket.typedConfig;
  assert.equal(tls["@type"], ANY_TYPES.upstreamTls);
  assert.equal(tls.sni, "reviews.apps.svc");
  assert.deepEqual(tls.commonTlsContext.tlsCertificateSdsSecretConfigs, [{ name: "default", sdsConfig: { ads: {}, resourceApiVersion: "V3" } }]);
  assert.deepEqual(tls.commonTlsContext.alpnProtocols, ["h2"]);
  const v = tls.commonTlsContext.combinedValidationContext;
  assert.deepEqual(v.defaultValidationContext.matchTypedSubjectAltNames, [
    { sanType: "URI", matcher: { exact: "spiffe://mesh.example/ns/apps/sa/reviews" } },
    { sanType: "DNS", matcher: { exact: "reviews.apps.svc" } },
  ]);
  assert.equal(v.validationContextSdsSecretConfig.name, "ROOTCA");
  const noSans = cds(cluster("c", { tls: { validationSecret: "ca", subjectAltNames: [] } })).transportSocket.typedConfig.commonTlsContext;
  assert.equal(noSans.validationContextSdsSecretConfig.name, "ca");
  assert.equal(noSans.tlsCertificateSdsSecretConfigs, undefined);
});

test("endpoints: one weighted locality per zone, health status and weights", () => {
  const cla = eds(
    cluster("c", {
      endpoints: [
        { address: "10.0.0.1", port: 80, healthy: true, zone: "a" },
        { address: "10.0.0.2", port: 80, healthy: false, zone: "b", weight: 3 },
        { address: "10.0.0.3", port: 80, healthy: true, zone: "a", weight: 2 },
        { address: "10.0.0.4", port: 81, healthy: true },
      ],
    }),
  );
  assert.equal(cla.clusterName, "c");
  assert.deepEqual(
    cla.endpoints.map((l: any) => [l.locality, l.loadBalancingWeight.value, l.lbEndpoints.map((e: any) => [e.endpoint.address.socketAddress.address, e.healthStatus, e.loadBalancingWeight.value])]), // eslint-disable-line @typescript-eslint/no-explicit-any
    [
      [{ zone: "a" }, 3, [["10.0.0.1", "HEALTHY", 1], ["10.0.0.3", "HEALTHY", 2]]],
      [{ zone: "b" }, 3, [["10.0.0.2", "UNHEALTHY", 3]]],
      [{}, 1, [["10.0.0.4", "HEALTHY", 1]]],
    ],
  );
  assert.deepEqual(eds(cluster("empty", { endpoints: [] })), { clusterName: "empty" });
});

test("a remote JWKS cluster: LOGICAL_DNS to the host, TLS with SNI against the system CAs, the certificate must name the host", () => {
  const c = decodeResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, jwksClusterResource("https://idp.example/.well-known/jwks.json"))) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(c.name, "jwks|idp.example:443");
  assert.equal(c.type, "LOGICAL_DNS");
  assert.deepEqual(c.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress, { address: "idp.example", portValue: 443 });
  assert.equal(c.transportSocket.typedConfig.sni, "idp.example");
  assert.ok(c.transportSocket.typedConfig.commonTlsContext.validationContext.trustedCa.filename);
  assert.deepEqual(c.transportSocket.typedConfig.commonTlsContext.validationContext.matchTypedSubjectAltNames, [{ sanType: "DNS", matcher: { exact: "idp.example" } }]);
  const plain = decodeResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, jwksClusterResource("http://keys.internal:8080/jwks"))) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(plain.name, "jwks|keys.internal:8080");
  assert.equal(plain.transportSocket, undefined);
});
