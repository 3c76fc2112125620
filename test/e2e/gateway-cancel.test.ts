// A client that goes away mid-request: the gateway gives up the upstream request too
// (its connection to the backend is closed), so an abandoned request holds no upstream
// connection or circuit-breaker slot until the route timeout.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { serviceYaml } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness, waitFor } from "../helpers/gateway-harness.js";

test("a client closing its connection mid-request cancels the upstream request", async (t) => {
  const arrived: IncomingMessage[] = [];
  let upstreamClosed = 0;
  // Never answers: only the cancellation can end the upstream request before the route timeout.
  const backend = createServer((req) => {
    arrived.push(req);
    req.socket.on("close", () => upstreamClosed++);
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  t.after(() => {
    backend.closeAllConnections();
    return new Promise<void>((r) => backend.close(() => r()));
  });
  const port = await freePort();
  const backendPort = (backend.address() as { port: number }).port;
  const yaml = `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners: [{ name: http, port: ${port}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: slow, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: slow, port: 80 }], timeouts: { request: 30s } }]
${serviceYaml("infra", "slow", 80, [{ port: backendPort }])}`;
  await startGatewayHarness(t, { gateway: "infra/edge", yaml });

  const client = connect(port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", () => r()));
  client.write("GET /wait HTTP/1.1\r\nHost: edge.example\r\n\r\n");
  await waitFor(() => arrived.length === 1, 5_000, "the request to reach the backend");
  assert.equal(upstreamClosed, 0);
  client.destroy();
  await waitFor(() => upstreamClosed === 1, 5_000, "the gateway to close the upstream connection of the abandoned request");
});

test("a client closing its connection in the middle of a request body cancels the upstream request", async (t) => {
  const arrived: IncomingMessage[] = [];
  let bodyBytes = 0;
  let upstreamClosed = 0;
  // Reads the body as it comes and never answers.
  const backend = createServer((req) => {
    arrived.push(req);
    req.on("data", (d: Buffer) => (bodyBytes += d.length));
    req.socket.on("close", () => upstreamClosed++);
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  t.after(() => {
    backend.closeAllConnections();
    return new Promise<void>((r) => backend.close(() => r()));
  });
  const port = await freePort();
  const backendPort = (backend.address() as { port: number }).port;
  const yaml = `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners: [{ name: http, port: ${port}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: upload, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: upload, port: 80 }], timeouts: { request: 30s } }]
${serviceYaml("infra", "upload", 80, [{ port: backendPort }])}`;
  await startGatewayHarness(t, { gateway: "infra/edge", yaml });

  const client = connect(port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", () => r()));
  client.write("POST /upload HTTP/1.1\r\nHost: edge.example\r\nContent-Length: 1000000\r\n\r\n");
  client.write(Buffer.alloc(10_000, 0x61));
  await waitFor(() => arrived.length === 1 && bodyBytes === 10_000, 5_000, "the first part of the body to reach the backend");
  assert.equal(upstreamClosed, 0);
  client.destroy();
  await waitFor(() => upstreamClosed === 1, 5_000, "the gateway to close the upstream connection of the abandoned upload");
});
