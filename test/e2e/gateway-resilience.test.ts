// Timeouts and retries through the gateway with real backends: an HTTPRoute's
// `timeouts.request` answers 504 when the backend is slower; a BackendTrafficPolicy retry
// (on 5xx and reset) turns a first attempt that fails — a 503, or a connection closed
// without an answer — into a success, and the backend sees both attempts. A route without
// the policy passes the first failure through.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { request } from "undici";
import { serviceYaml, startEcho, type EchoBackend, type EchoRequest } from "../helpers/echo-backend.js";
import { edgeGatewayYaml, freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";

function config(port: number, slow: EchoBackend, flaky: EchoBackend): string {
  return `${GATEWAY_CLASS}---
${edgeGatewayYaml(port)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: slow, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      timeouts: { request: 500ms }
      backendRefs: [{ name: slow, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: flaky, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /retried } }]
      backendRefs: [{ name: flaky, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: plain, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /not-retried } }]
      backendRefs: [{ name: flaky, port: 80 }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: retry-flaky, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: flaky }]
  retry:
    numRetries: 2
    retryOn: { triggers: [5xx, reset] }
    perRetry: { backOff: { baseInterval: 10ms, maxInterval: 50ms } }
${serviceYaml("infra", "slow", 80, [slow])}${serviceYaml("infra", "flaky", 80, [flaky])}`;
}

async function setup(t: import("node:test").TestContext) {
  const port = await freePort();
  const slow = await startEcho(t, "slow");
  const flaky = await startEcho(t, "flaky");
  const timers = new Set<NodeJS.Timeout>();
  t.after(() => timers.forEach(clearTimeout));
  slow.handler = (_req: IncomingMessage, res: ServerResponse, echo: EchoRequest) => {
    const timer = setTimeout(() => res.end(JSON.stringify(echo)), 5000);
    timers.add(timer);
  };
  // The first attempt at each path fails (503, or the connection is closed unanswered); the next succeeds.
  const attempts = new Map<string, number>();
  flaky.handler = (req: IncomingMessage, res: ServerResponse, echo: EchoRequest) => {
    const n = (attempts.get(echo.path) ?? 0) + 1;
    attempts.set(echo.path, n);
    if (n === 1 && echo.path.includes("reset")) return req.socket.destroy();
    if (n === 1) {
      res.writeHead(503, { "content-type": "text/plain" });
      return res.end("try again");
    }
    res.writeHead(200, { "content-type": "application/json", "x-attempt": String(n) });
    res.end(JSON.stringify(echo));
  };
  await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, slow, flaky) });
  return { port, slow, flaky };
}

async function get(port: number, path: string) {
  const res = await request(`http://127.0.0.1:${port}${path}`);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

test("HTTPRoute timeouts.request: a slower backend is answered 504 after about that long", async (t) => {
  const { port, slow } = await setup(t);
  const started = performance.now();
  const r = await get(port, "/slow/x");
  const elapsed = performance.now() - started;
  assert.equal(r.status, 504);
  assert.equal(r.text, "upstream request timeout");
  assert.ok(elapsed >= 450, `not before the timeout (${Math.round(elapsed)} ms)`);
  assert.ok(elapsed < 2500, `soon after the 500 ms timeout, not when the backend answers at 5 s (${Math.round(elapsed)} ms)`);
  assert.equal(slow.requests.length, 1, "the request reached the backend once (no retries configured)");
});

test("BackendTrafficPolicy retry on 5xx and reset: the first attempt fails, the second answers", async (t) => {
  const { port, flaky } = await setup(t);
  const status = await get(port, "/retried/status");
  assert.equal(status.status, 200, status.text);
  assert.equal(status.headers["x-attempt"], "2");
  assert.equal(flaky.requests.filter((q) => q.path === "/retried/status").length, 2, "the backend saw two attempts");

  const reset = await get(port, "/retried/reset");
  assert.equal(reset.status, 200, reset.text);
  assert.equal(reset.headers["x-attempt"], "2");
  assert.equal(flaky.requests.filter((q) => q.path === "/retried/reset").length, 2, "the backend saw two attempts");
  // Both attempts are one request: the same x-request-id.
  const ids = new Set(flaky.requests.filter((q) => q.path === "/retried/reset").map((q) => q.headers["x-request-id"]));
  assert.equal(ids.size, 1);

  // The same backend behind a route the policy does not target: the 503 is the answer.
  const plain = await get(port, "/not-retried/status");
  assert.equal(plain.status, 503);
  assert.equal(plain.text, "try again");
  assert.equal(flaky.requests.filter((q) => q.path === "/not-retried/status").length, 1);
});
