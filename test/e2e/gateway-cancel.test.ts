// A client that goes away mid-request: the gateway gives up the upstream request too
// (its connection to the backend is closed), so an abandoned request holds no upstream
// connection or circuit-breaker slot until the route timeout.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { serviceYaml } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness, waitFor } from "../helpers/gateway-harness.js";

/**
 * A backend that reads request bodies as they come and never answers (only the
 * cancellation can end its requests before the 30 s route timeout), behind a gateway;
 * returns a raw client connection to the gateway and what the backend saw.
 */
async function gatewayToSilentBackend(t: TestContext) {
  const seen = { arrived: [] as IncomingMessage[], bodyBytes: 0, upstreamClosed: 0 };
  const backend = createServer((req) => {
    seen.arrived.push(req);
    req.on("data", (d: Buffer) => (seen.bodyBytes += d.length));
    req.socket.on("close", () => seen.upstreamClosed++);
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
metadata: { name: silent, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: silent, port: 80 }], timeouts: { request: 30s } }]
${serviceYaml("infra", "silent", 80, [{ port: backendPort }])}`;
  await startGatewayHarness(t, { gateway: "infra/edge", yaml });
  const client: Socket = connect(port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", () => r()));
  return { seen, client };
}

test("a client closing its connection mid-request cancels the upstream request", async (t) => {
  const { seen, client } = await gatewayToSilentBackend(t);
  client.write("GET /wait HTTP/1.1\r\nHost: edge.example\r\n\r\n");
  await waitFor(() => seen.arrived.length === 1, 5_000, "the request to reach the backend");
  assert.equal(seen.upstreamClosed, 0);
  client.destroy();
  await waitFor(() => seen.upstreamClosed === 1, 5_000, "the gateway to close the upstream connection of the abandoned request");
});

test("a client closing its connection in the middle of a request body cancels the upstream request", async (t) => {
  const { seen, client } = await gatewayToSilentBackend(t);
  client.write("POST /upload HTTP/1.1\r\nHost: edge.example\r\nContent-Length: 1000000\r\n\r\n");
  client.write(Buffer.alloc(10_000, 0x61));
  await waitFor(() => seen.arrived.length === 1 && seen.bodyBytes === 10_000, 5_000, "the first part of the body to reach the backend");
  assert.equal(seen.upstreamClosed, 0);
  client.destroy();
  await waitFor(() => seen.upstreamClosed === 1, 5_000, "the gateway to close the upstream connection of the abandoned upload");
});
