import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterManager } from "../../../src/proxy/upstream/cluster-manager.js";
import { failureResponse } from "../../../src/proxy/upstream/failure-status.js";
import type { Cluster } from "../../../src/proxy/upstream/cluster.js";
import { config, endpoint, irCluster, request, send, sleep, startBackend } from "./helpers.js";

async function manager(t: { after: (fn: () => unknown) => void }) {
  const m = new ClusterManager();
  t.after(() => m.close());
  return m;
}

test("failure kinds map to Envoy's status, body, flag and overload header", () => {
  assert.deepEqual(
    { ...failureResponse("connect-failure") },
    { status: 503, body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure", headers: { "content-type": "text/plain" }, flags: "UF" },
  );
  assert.equal(failureResponse("timeout").status, 504);
  assert.equal(failureResponse("timeout").body, "upstream request timeout");
  assert.equal(failureResponse("no-healthy-upstream").body, "no healthy upstream");
  assert.equal(failureResponse("no-healthy-upstream").status, 503);
  assert.equal(failureResponse("overflow").status, 503);
  assert.equal(failureResponse("overflow").headers["x-envoy-overloaded"], "true");
  assert.match(failureResponse("reset").body, /reset reason: connection termination/);
});

test("circuit breakers: maxRequests and maxPendingRequests overflow; maxRetries stops retries", async (t) => {
  const held: Array<() => void> = [];
  const b = await startBackend(t, (_req, res) => held.push(() => res.end("done")));
  const m = await manager(t);
  m.apply(...config([irCluster("cb", { endpoints: [endpoint(b.port)], circuitBreakers: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 10 } })]));
  const c = m.get("cb")!;
  const first = send(c); // uses the one connection
  const second = send(c); // waits for it (pending 1)
  const third = await send(c); // pending would be 2
  assert.equal(third.error?.kind, "overflow");
  assert.match(third.error!.message, /maxPendingRequests 1/);
  while (held.length < 1) await sleep(5);
  held.shift()!();
  assert.equal((await first).status, 200);
  while (held.length < 1) await sleep(5);
  held.shift()!();
  assert.equal((await second).status, 200);
  assert.equal(b.connections, 1, "maxConnections caps the pool");

  m.apply(...config([irCluster("cb", { endpoints: [endpoint(b.port)], circuitBreakers: { maxRequests: 1 } })]));
  const one = send(m.get("cb")!);
  assert.equal((await send(m.get("cb")!)).error?.kind, "overflow");
  while (held.length < 1) await sleep(5);
  held.shift()!();
  assert.equal((await one).status, 200);
});

test("maxRetries: with the retry budget spent a failure is not retried", async (t) => {
  const b = await startBackend(t, (_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  const m = await manager(t);
  m.apply(...config([irCluster("r", { endpoints: [endpoint(b.port)], circuitBreakers: { maxRetries: 0 } })]));
  const out = await send(m.get("r")!, request(), { timeoutMs: 5000, retry: { retryOn: ["5xx"], numRetries: 3, retriableStatusCodes: [], backoffBaseMs: 1, backoffMaxMs: 2 } });
  assert.equal(out.status, 503);
  assert.equal(b.hits, 1);
});

test("outlier detection ejects an endpoint after consecutive 5xx and brings it back after the ejection time", async (t) => {
  let failing = true;
  const bad = await startBackend(t, (_req, res, bk) => {
    res.statusCode = failing ? 500 : 200;
    res.setHeader("x-backend", String(bk.port));
    res.end();
  });
  const good = await startBackend(t);
  const m = await manager(t);
  m.apply(...config([irCluster("od", { endpoints: [endpoint(bad.port), endpoint(good.port)], outlierDetection: { consecutive5xx: 3, intervalMs: 50, baseEjectionTimeMs: 300, maxEjectionPercent: 50 } })]));
  const c = m.get("od")! as Cluster;
  for (let i = 0; i < 6; i++) await send(c);
  assert.equal(bad.hits, 3);
  assert.equal(c.healthyEndpoints, 1, "the failing endpoint is ejected");
  for (let i = 0; i < 10; i++) assert.equal((await send(c)).status, 200);
  assert.equal(bad.hits, 3, "no traffic while ejected");
  failing = false;
  await sleep(450);
  assert.equal(c.healthyEndpoints, 2, "back after baseEjectionTime");
  for (let i = 0; i < 4; i++) await send(c);
  assert.ok(bad.hits > 3);
});

test("outlier detection: consecutive gateway failures (connect failures count) eject; maxEjectionPercent holds the rest", async (t) => {
  const a = await startBackend(t);
  const b = await startBackend(t);
  const m = await manager(t);
  m.apply(...config([irCluster("gw", { endpoints: [endpoint(a.port), endpoint(b.port)], outlierDetection: { consecutiveGatewayErrors: 2, consecutive5xx: 100, intervalMs: 1000, baseEjectionTimeMs: 10_000, maxEjectionPercent: 50 } })]));
  const c = m.get("gw")! as Cluster;
  await a.close();
  await b.close();
  for (let i = 0; i < 8; i++) assert.equal((await send(c)).error?.kind, "connect-failure");
  assert.equal(c.healthyEndpoints, 1, "one of two ejected, the other kept by maxEjectionPercent 50");
});

test("active health checks mark an endpoint unhealthy and healthy again", async (t) => {
  let healthy = true;
  const checks: string[] = [];
  const a = await startBackend(t, (req, res, bk) => {
    if (req.url === "/healthz") {
      checks.push(String(req.headers.host));
      res.statusCode = healthy ? 200 : 503;
      return res.end();
    }
    res.setHeader("x-backend", String(bk.port));
    res.end("a");
  });
  const b = await startBackend(t, (req, res) => res.end(req.url === "/healthz" ? "" : "b"));
  const m = await manager(t);
  m.apply(...config([irCluster("hc", { endpoints: [endpoint(a.port), endpoint(b.port)], healthCheck: { path: "/healthz", intervalMs: 40, timeoutMs: 200, unhealthyThreshold: 2, healthyThreshold: 2, expectedStatuses: [200] } })]));
  const c = m.get("hc")! as Cluster;
  await sleep(100);
  assert.equal(c.healthyEndpoints, 2);
  assert.equal(checks[0], "hc", "the Host header is the cluster name when none is configured");
  healthy = false;
  for (let i = 0; i < 50 && c.healthyEndpoints === 2; i++) await sleep(20);
  assert.equal(c.healthyEndpoints, 1);
  for (let i = 0; i < 6; i++) assert.equal((await send(c)).body, "b");
  healthy = true;
  for (let i = 0; i < 50 && c.healthyEndpoints === 1; i++) await sleep(20);
  assert.equal(c.healthyEndpoints, 2);
});

test("EDS health status: UNHEALTHY endpoints get no traffic; none usable is no healthy upstream", async (t) => {
  const a = await startBackend(t);
  const b = await startBackend(t);
  const m = await manager(t);
  m.apply(...config([irCluster("eds", { endpoints: [endpoint(a.port), endpoint(b.port, { healthy: false })] })]));
  for (let i = 0; i < 4; i++) await send(m.get("eds")!);
  assert.equal(a.hits, 4);
  assert.equal(b.hits, 0);
  m.apply(...config([irCluster("eds", { endpoints: [endpoint(a.port, { healthy: false })] }), irCluster("none")]));
  assert.equal((await send(m.get("eds")!)).error?.kind, "no-healthy-upstream");
  assert.equal((await send(m.get("none")!)).error?.kind, "no-healthy-upstream");
  assert.equal(m.get("none")!.healthyEndpoints, 0);
});
