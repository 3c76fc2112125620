// HTTP/2 over TLS (ALPN h2) through the gateway while the configuration changes: a steady
// load of concurrent streams on one client connection keeps flowing while the HTTPRoute's
// weights change; no stream fails, the connection survives, and the new weights are in
// force once the change is acknowledged.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, constants, type ClientHttp2Session } from "node:http2";
import { serviceYaml, startEcho, type EchoBackend } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";
import { createTestPki, tlsSecretYaml, type Leaf } from "../helpers/test-pki.js";

function config(port: number, cert: Leaf, v1: EchoBackend, v2: EchoBackend, weights: { v1: number; v2: number }): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: shop, port: ${port}, protocol: HTTPS, hostname: shop.example, tls: { certificateRefs: [{ name: shop-cert }] } }
${tlsSecretYaml("infra", "shop-cert", cert)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [shop.example]
  rules:
    - backendRefs: [{ name: v1, port: 80, weight: ${weights.v1} }, { name: v2, port: 80, weight: ${weights.v2} }]
${serviceYaml("infra", "v1", 80, [v1])}${serviceYaml("infra", "v2", 80, [v2])}`;
}

/** One GET on the session: status and the backend that answered. */
function get(session: ClientHttp2Session, path: string): Promise<{ status: number; backend: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ [constants.HTTP2_HEADER_PATH]: path, [constants.HTTP2_HEADER_AUTHORITY]: "shop.example" });
    let status = 0;
    let backend = "";
    req.setTimeout(5000, () => req.close(constants.NGHTTP2_CANCEL));
    req.on("response", (h) => {
      status = Number(h[constants.HTTP2_HEADER_STATUS]);
      backend = String(h["x-backend"] ?? "");
    });
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => resolve({ status, backend: status === 200 ? backend : `${backend} ${body}` }));
    req.on("error", reject);
    req.end();
  });
}

test("h2 over TLS: a steady load on one connection while the route's weights change fails no stream", async (t) => {
  const pki = createTestPki("h2");
  t.after(() => pki.close());
  const cert = pki.leaf("shop.example", "DNS:shop.example", "serverAuth");
  const port = await freePort();
  const v1 = await startEcho(t, "v1");
  const v2 = await startEcho(t, "v2");
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, cert, v1, v2, { v1: 1, v2: 0 }) });

  let connects = 0;
  const session = connect(`https://127.0.0.1:${port}`, { ca: pki.root, servername: "shop.example" });
  session.on("connect", () => connects++);
  t.after(() => session.close());
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  assert.equal(session.alpnProtocol, "h2", "HTTP/2 negotiated by ALPN");

  const results: { status: number; backend: string; at: number }[] = [];
  const failures: string[] = [];
  let stop = false;
  // Eight streams in flight at any time, all on the one connection.
  const loops = Array.from({ length: 8 }, async (_, i) => {
    for (let n = 0; !stop; n++) {
      try {
        const r = await get(session, `/load/${i}/${n}`);
        if (r.status !== 200) failures.push(`status ${r.status}: ${r.backend}`);
        results.push({ ...r, at: performance.now() });
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  const before = results.length;
  await h.write(config(port, cert, v1, v2, { v1: 0, v2: 1 }));
  const acked = performance.now();
  await new Promise((r) => setTimeout(r, 400));
  stop = true;
  await Promise.all(loops);

  assert.deepEqual(failures, [], `${failures.length} of ${results.length} streams failed`);
  assert.ok(before > 20, `streams flowed before the change (${before})`);
  assert.ok(results.length - before > 20, `streams flowed after it (${results.length - before})`);
  assert.ok(results.slice(0, before).every((r) => r.backend === "v1"), "before the change every stream went to v1");
  // Streams that started before the ACK may still have used the old weights.
  const late = results.filter((r) => r.at > acked + 100);
  assert.ok(late.length > 10, `streams after the change (${late.length})`);
  assert.deepEqual([...new Set(late.map((r) => r.backend))], ["v2"], "after the change every stream goes to v2");
  assert.equal(connects, 1);
  assert.equal(session.closed || session.destroyed, false, "the connection survived the change");
});
