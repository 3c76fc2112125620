// A Gateway whose address changes on the same port (no address: 0.0.0.0:P, then
// 127.0.0.1:P, then back), served by a gateway proxy with two node:cluster workers: the
// proxy process has every worker release the old socket before any binds the new one, so
// each change applies in one update and both workers serve the new address.

import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { serviceYaml, startEcho } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";

function config(port: number, backendPort: number, address: string | undefined): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
${address ? `  addresses: [{ type: IPAddress, value: ${address} }]\n` : ""}  listeners:
    - { name: http, port: ${port}, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
${serviceYaml("infra", "app", 80, [{ port: backendPort }])}`;
}

async function status(host: string, port: number): Promise<number | string> {
  try {
    const res = await request(`http://${host}:${port}/x`, { headersTimeout: 3000 });
    await res.body.dump();
    return res.statusCode;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

test("gateway workers move the listener between 0.0.0.0:P and 127.0.0.1:P in one update each", async (t) => {
  const backend = await startEcho(t, "app");
  // Free on the wildcard address, so free on every loopback address.
  const port = await freePort();
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, backend.port, undefined), workers: 2 });
  // 127.0.0.2 is covered by the wildcard listener only.
  assert.equal(await status("127.0.0.2", port), 200);

  await h.write(config(port, backend.port, "127.0.0.1"));
  assert.equal(await status("127.0.0.1", port), 200);
  assert.equal(await status("127.0.0.2", port), "ECONNREFUSED");

  await h.write(config(port, backend.port, undefined));
  assert.equal(await status("127.0.0.2", port), 200);
  assert.equal(await status("127.0.0.1", port), 200);
  assert.equal(h.proxy.restarts, 0);
  assert.equal(
    h.logs.filter((l) => /cannot listen on/.test(l)).length,
    0,
    "no update was refused",
  );
});
