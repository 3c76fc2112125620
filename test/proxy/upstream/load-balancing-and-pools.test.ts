import { test } from "node:test";
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { ClusterManager } from "../../../src/proxy/upstream/cluster-manager.js";
import { createLoadBalancer } from "../../../src/proxy/upstream/load-balancer.js";
import type { Host } from "../../../src/proxy/upstream/host.js";
import { config, endpoint, irCluster, request, send, sleep, startBackend, type Backend } from "./helpers.js";

function tally(outcomes: Array<{ headers?: Record<string, unknown> }>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outcomes) {
    const k = String(o.headers?.["x-backend"]);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

async function backends(t: Parameters<typeof startBackend>[0], n: number): Promise<Backend[]> {
  return Promise.all(Array.from({ length: n }, () => startBackend(t)));
}

test("round robin spreads requests evenly over equal endpoints", async (t) => {
  const bs = await backends(t, 3);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("rr", { endpoints: bs.map((b) => endpoint(b.port)) })]));
  const c = m.get("rr")!;
  const out = [];
  for (let i = 0; i < 30; i++) out.push(await send(c));
  assert.deepEqual([...tally(out).values()], [10, 10, 10]);
  assert.deepEqual(bs.map((b) => b.hits), [10, 10, 10]);
});

test("weighted round robin is smooth and proportional (EDS loadBalancingWeight)", async (t) => {
  const [a, b] = await backends(t, 2);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("w", { endpoints: [endpoint(a!.port, { weight: 1 }), endpoint(b!.port, { weight: 3 })] })]));
  const c = m.get("w")!;
  const seq: string[] = [];
  for (let i = 0; i < 40; i++) seq.push(String((await send(c)).headers?.["x-backend"]));
  assert.equal(a!.hits, 10);
  assert.equal(b!.hits, 30);
  // Smooth: the light endpoint never waits more than 4 picks, and never gets two in a row.
  for (let i = 1; i < seq.length; i++) assert.ok(!(seq[i] === String(a!.port) && seq[i - 1] === String(a!.port)));
});

test("smooth weighted round robin order for weights 5,1,1", () => {
  const hosts = ["a", "b", "c"].map((label, i) => ({ label, weight: [5, 1, 1][i], active: 0 })) as unknown as Host[];
  const lb = createLoadBalancer("round-robin", hosts, 2);
  const seq = Array.from({ length: 7 }, () => (lb.pick() as unknown as { label: string }).label).join("");
  assert.equal(seq, "aabacaa");
});

test("random follows the weights; a retry avoids the previous endpoint", () => {
  const hosts = ["a", "b"].map((label, i) => ({ label, weight: [1, 4][i], active: 0 })) as unknown as Host[];
  const lb = createLoadBalancer("random", hosts, 2);
  let b = 0;
  for (let i = 0; i < 5000; i++) if ((lb.pick() as unknown as { label: string }).label === "b") b++;
  assert.ok(b > 3700 && b < 4300, `b picked ${b}/5000, expected about 4000`);
  const eq = createLoadBalancer("random", hosts.map((h) => ({ ...h, weight: 1 })) as unknown as Host[], 2);
  const avoid = eq.pick()!;
  for (let i = 0; i < 50; i++) assert.notEqual(eq.pick(avoid), avoid);
});

test("least request sends new requests away from the endpoint that is busy", async (t) => {
  const held: Array<() => void> = [];
  const slow = await startBackend(t, (_req, res, b) => held.push(() => res.end(`slow ${b.port}`)));
  const fast = await startBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("lr", { loadBalancer: "LEAST_REQUEST", endpoints: [endpoint(slow.port), endpoint(fast.port)] })]));
  const c = m.get("lr")!;
  // Occupy the slow endpoint with a few requests, then see where the rest go.
  const pending = [];
  while (slow.hits < 3) {
    pending.push(send(c));
    await sleep(5);
  }
  const before = fast.hits;
  for (let i = 0; i < 20; i++) await send(c);
  assert.equal(fast.hits - before, 20, "with 2 choices out of 2 endpoints, the idle one always wins");
  for (const h of held) h();
  await Promise.all(pending);
});

test("keep-alive: sequential requests reuse one connection per endpoint", async (t) => {
  const b = await startBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("ka", { endpoints: [endpoint(b.port)] })]));
  for (let i = 0; i < 20; i++) {
    assert.equal((await send(m.get("ka")!)).status, 200);
    // As a downstream client would: the next request comes after the response was handled.
    await new Promise(setImmediate);
  }
  assert.equal(b.hits, 20);
  assert.equal(b.connections, 1);
});

test("an EDS update keeps the pools (and connections) of unchanged endpoints and drains removed ones", async (t) => {
  const [a, b] = await backends(t, 2);
  let release: (() => void) | undefined;
  const slow = await startBackend(t, (_req, res) => (release = () => res.end("late")));
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("eds", { endpoints: [endpoint(a!.port), endpoint(slow.port)] })]));
  const first = m.get("eds")!;
  // One request in flight to the endpoint about to be removed, one answered by the other.
  let inflight;
  for (let i = 0; i < 4 && !inflight; i++) {
    const p = send(first);
    await sleep(20);
    if (slow.hits > 0) inflight = p;
    else assert.equal((await p).status, 200);
  }
  if (a!.hits === 0) assert.equal((await send(first)).status, 200);
  await new Promise(setImmediate);
  assert.ok(inflight, "a request reached the slow endpoint");
  const aConnections = a!.connections;
  m.apply(...config([irCluster("eds", { endpoints: [endpoint(a!.port), endpoint(b!.port)] })]));
  const second = m.get("eds")!;
  assert.notEqual(second, first);
  for (let i = 0; i < 6; i++) {
    assert.equal((await send(second)).status, 200);
    await new Promise(setImmediate);
  }
  assert.equal(a!.connections, aConnections, "the unchanged endpoint's connection is reused across apply");
  assert.equal(b!.hits, 3);
  release!();
  const late = await inflight;
  assert.equal(late.status, 200);
  assert.equal(late.body, "late", "the removed endpoint's in-flight request finished");
});

test("HTTP/2 upstream (h2c) when the cluster's protocol options ask for it; streams share one connection", async (t) => {
  let sessions = 0;
  const server = http2.createServer();
  server.on("session", () => sessions++);
  server.on("stream", (stream, headers) => {
    stream.respond({ ":status": 200, "x-proto": "h2", "x-authority": String(headers[":authority"]) });
    stream.end(`h2 ${headers[":path"]}`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("h2", { protocol: "http2", endpoints: [endpoint(port)] })]));
  const outs = await Promise.all(Array.from({ length: 10 }, (_, i) => send(m.get("h2")!, request(`/s${i}`))));
  for (let i = 0; i < 10; i++) {
    assert.equal(outs[i]!.status, 200);
    assert.equal(outs[i]!.body, `h2 /s${i}`);
    assert.equal(outs[i]!.headers?.["x-authority"], "backend.test");
  }
  assert.equal(sessions, 1);
});

test("STRICT_DNS resolves names and LOGICAL_DNS dials the resolved address", async (t) => {
  const b = await startBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("sdns", { discovery: "dns", endpoints: [{ address: "localhost", port: b.port, healthy: true }] })]));
  const c = m.get("sdns")! as unknown as { endpoints: readonly Host[] };
  assert.equal((await send(m.get("sdns")!)).status, 200);
  for (let i = 0; i < 50 && c.endpoints[0]?.address === "localhost"; i++) await sleep(10);
  assert.ok(c.endpoints.length >= 1);
  assert.match(c.endpoints[0]!.address, /^(127\.0\.0\.1|::1)$/);
  // LOGICAL_DNS: the shape the translator emits for JWKS servers (plaintext here).
  const logical = { name: "ldns", type: "LOGICAL_DNS", connectTimeout: { seconds: 1 }, lbPolicy: "ROUND_ROBIN", loadAssignment: { clusterName: "ldns", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "localhost", portValue: b.port } } } }] }] } };
  m.apply(new Map([["ldns", logical]]), new Map(), new Map());
  assert.equal((await send(m.get("ldns")!)).status, 200);
});

test("backpressure: a sink returning false pauses the upstream until resume", async (t) => {
  const big = Buffer.alloc(4 * 1024 * 1024, 120);
  const b = await startBackend(t, (_req, res) => res.end(big));
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("bp", { endpoints: [endpoint(b.port)] })]));
  let received = 0;
  let resumeFn: (() => void) | undefined;
  let pausedAt = -1;
  const done = new Promise<void>((resolve, reject) => {
    m.get("bp")!.forward(request(), {
      onHeaders: (_s, _h, resume) => ((resumeFn = resume), true),
      onData(chunk) {
        received += chunk.length;
        if (pausedAt < 0) {
          pausedAt = received;
          return false;
        }
        return true;
      },
      onComplete: () => resolve(),
      onError: reject,
    }, { timeoutMs: 5000 });
  });
  while (pausedAt < 0) await sleep(5);
  await sleep(100);
  assert.ok(received < big.length, `paused: ${received} of ${big.length} bytes read`);
  resumeFn!();
  await done;
  assert.equal(received, big.length);
});
