import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ProxyConfigRejectedError } from "../../../src/errors.js";
import { parseCluster } from "../../../src/proxy/upstream/cluster-config.js";
import { parseLoadAssignment } from "../../../src/proxy/upstream/endpoints.js";
import { ClusterManager } from "../../../src/proxy/upstream/cluster-manager.js";
import { ConfigPath, UPSTREAM_RESOURCE } from "../../../src/proxy/config-reader.js";
import type { EnvoyResource } from "../../../src/proxy/contracts.js";
import { caSecret, certificateSecret, config, endpoint, irCluster, meshPki, resources, send, startBackend } from "./helpers.js";

const GOLDEN = new URL("../../golden/xds/", import.meta.url).pathname;

function goldenResources(kind: "cluster" | "endpoint" | "secret"): Array<[string, EnvoyResource]> {
  const out: Array<[string, EnvoyResource]> = [];
  for (const f of readdirSync(GOLDEN).filter((f) => f.endsWith(".out.yaml"))) {
    const doc = parse(readFileSync(join(GOLDEN, f), "utf8")) as { nodes?: Record<string, Record<string, Record<string, { value: EnvoyResource }>>> };
    for (const types of Object.values(doc.nodes ?? {})) for (const [name, r] of Object.entries(types[kind] ?? {})) out.push([`${f}: ${name}`, r.value]);
  }
  return out;
}

test("every cluster and endpoint shape in the golden xDS files is accepted", () => {
  const clusters = goldenResources("cluster");
  const endpoints = goldenResources("endpoint");
  assert.ok(clusters.length > 20 && endpoints.length > 10);
  const seen = new Set<string>();
  for (const [where, c] of clusters) {
    const spec = assert.doesNotThrow(() => parseCluster(c), where) ?? parseCluster(c);
    seen.add(`${spec.discovery}/${spec.lb}/${spec.http2 ? "h2" : "h1"}/${spec.tls ? "tls" : "plain"}`);
    if (c.circuitBreakers) assert.notDeepEqual(spec.limits, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 }, where);
    if (c.outlierDetection) assert.ok(spec.outlier, where);
    if (c.healthChecks) assert.ok(spec.healthCheck, where);
  }
  for (const [where, e] of endpoints) assert.doesNotThrow(() => parseLoadAssignment(e, new ConfigPath(UPSTREAM_RESOURCE, where, "")), where);
  // The golden files cover these combinations; the parser must have told them apart.
  for (const want of ["eds/round-robin/h1/plain", "eds/round-robin/h1/tls", "static/round-robin/h2/plain", "logical-dns/round-robin/h1/tls"]) assert.ok(seen.has(want), `${want} in ${[...seen].join(", ")}`);
  assert.ok([...seen].some((s) => s.includes("least-request")) && [...seen].some((s) => s.includes("random")) && [...seen].some((s) => s.includes("/h2/")));
});

test("golden secret shapes are read as client certificates and CA bundles", async () => {
  const pki = await meshPki();
  const leaf = await pki.svid("spiffe://mesh.test/ns/a/sa/b");
  // The golden files redact key material; keep their shapes and put real PEM in.
  const secrets = new Map<string, EnvoyResource>();
  for (const [, s] of goldenResources("secret")) {
    const name = s.name as string;
    secrets.set(name, s.tlsCertificate ? certificateSecret(name, leaf.chainPem, leaf.keyPem) : caSecret(name, pki.rootPem));
    assert.ok(s.tlsCertificate || s.validationContext);
  }
  const clusters = new Map<string, EnvoyResource>();
  for (const [, c] of goldenResources("cluster")) clusters.set(c.name as string, c);
  const m = new ClusterManager();
  assert.doesNotThrow(() => m.apply(clusters, new Map(), secrets));
  assert.ok(m.get("outbound|443||billing.infra.svc.cluster.local|client-cert=infra/gw-client"));
  await m.close();
});

test("lbPolicy and loadBalancingPolicy select the balancer; http2 protocol options select HTTP/2", () => {
  assert.equal(parseCluster(resources(irCluster("a", { loadBalancer: "LEAST_REQUEST" })).cluster).lb, "least-request");
  assert.equal(parseCluster(resources(irCluster("a", { loadBalancer: "RANDOM" })).cluster).lb, "random");
  assert.equal(parseCluster(resources(irCluster("a")).cluster).lb, "round-robin");
  assert.equal(parseCluster({ name: "a", type: "EDS", lbPolicy: "ROUND_ROBIN", loadBalancingPolicy: { policies: [{ typedExtensionConfig: { name: "x", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random" } } }] } }).lb, "random");
  assert.equal(parseCluster(resources(irCluster("a", { protocol: "http2" })).cluster).http2, true);
  assert.equal(parseCluster(resources(irCluster("a")).cluster).http2, false);
});

test("fields the proxy cannot honour are refused naming the cluster and the field", () => {
  const base = resources(irCluster("c1")).cluster;
  const cases: Array<[EnvoyResource, RegExp]> = [
    [{ ...base, lbPolicy: "RING_HASH" }, /cluster "c1": lbPolicy: "RING_HASH" is not supported/],
    [{ ...base, type: "ORIGINAL_DST" }, /cluster "c1": type:/],
    [{ ...base, upstreamBindConfig: {} }, /cluster "c1": upstreamBindConfig: not supported/],
    [{ ...base, circuitBreakers: { thresholds: [{ maxConnections: { value: 1 }, trackRemaining: true }] } }, /circuitBreakers\.thresholds\[0\]\.trackRemaining/],
    [{ ...base, healthChecks: [{ timeout: { seconds: 1 }, interval: { seconds: 1 }, unhealthyThreshold: { value: 1 }, healthyThreshold: { value: 1 }, grpcHealthCheck: {} }] }, /healthChecks\[0\]\.grpcHealthCheck/],
    [{ ...base, transportSocket: { name: "tls", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", commonTlsContext: { tlsParams: {} } } } }, /transportSocket\.typedConfig\.commonTlsContext\.tlsParams/],
    [{ ...base, transportSocket: { name: "tls", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", commonTlsContext: { validationContext: { trustedCa: { inlineString: "x" }, matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { safeRegex: { regex: "(" } } }] } } } } }, /matchTypedSubjectAltNames\[0\]\.matcher\.safeRegex\.regex: invalid regular expression/],
  ];
  for (const [c, re] of cases) {
    assert.throws(() => parseCluster(c), (e: unknown) => e instanceof ProxyConfigRejectedError && e.code === "ERR_PROXY_CONFIG_REJECTED" && re.test(e.message), re.source);
  }
  assert.throws(() => parseLoadAssignment({ clusterName: "x", endpoints: [{ lbEndpoints: [{ endpoint: { address: { pipe: { path: "/x" } } } }] }] }, new ConfigPath(UPSTREAM_RESOURCE, 'endpoint "x"', "")), /endpoint "x": endpoints\[0\]\.lbEndpoints\[0\]\.endpoint\.address\.pipe: not supported/);
});

test("apply is atomic: a bad cluster (or bad key material) leaves the current clusters serving", async (t) => {
  const b = await startBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("good", { endpoints: [endpoint(b.port)] })]));
  const before = m.get("good")!;
  assert.equal((await send(before)).status, 200);

  const [cs, es, ss] = config([irCluster("good", { endpoints: [endpoint(b.port), endpoint(1)] }), irCluster("bad", { endpoints: [endpoint(b.port)] })]);
  cs.set("bad", { ...cs.get("bad")!, lbPolicy: "MAGLEV" });
  assert.throws(() => m.apply(cs, es, ss), /cluster "bad": lbPolicy/);
  assert.equal(m.get("good"), before, "the current cluster is untouched");
  assert.equal(m.get("bad"), undefined);
  assert.equal(before.endpoints.length, 1);
  assert.equal((await send(m.get("good")!)).status, 200);

  const [cs2, es2] = config([irCluster("tls", { endpoints: [endpoint(b.port)], tls: { validationSecret: "ca", subjectAltNames: [] } })]);
  assert.throws(() => m.apply(cs2, es2, new Map([["ca", caSecret("ca", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")]])), /cluster "tls": transportSocket.typedConfig.commonTlsContext: validation secret "ca" is unusable/);
  assert.equal(m.get("good"), before);
  assert.equal(m.get("tls"), undefined);
});
