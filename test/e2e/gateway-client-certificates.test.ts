// Client certificate validation at the embedded gateway (Gateway spec.tls.frontend): with
// AllowValidOnly a client must present a certificate from the configured CA or the TLS
// handshake fails; the client's SPIFFE ID (URI SAN) is then its principal, so an
// AuthorizationPolicy's `principals` and `namespaces` decide per identity. A per-port
// AllowInsecureFallback lets clients without a certificate in (with no principal).

import { test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { serviceYaml, startEcho } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";
import { caConfigMapYaml, createTestPki, tlsSecretYaml, type Leaf, type TestPki } from "../helpers/test-pki.js";

interface Result {
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
}

/** One HTTPS GET with SNI shop.example, presenting `client` when given. */
function get(port: number, pki: TestPki, client: Leaf | undefined, path = "/hello"): Promise<Result> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path,
        servername: "shop.example",
        headers: { host: "shop.example" },
        ca: pki.root,
        ...(client ? { cert: client.chain, key: client.key } : {}),
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on("error", (e) => resolve({ error: e.message }));
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.end();
  });
}

test("gateway mTLS: only clients with a certificate from the configured CA get through; principals and namespaces see their SPIFFE ID", async (t) => {
  const pki = createTestPki("e2e");
  const other = createTestPki("other");
  t.after(() => {
    pki.close();
    other.close();
  });
  const backend = await startEcho(t, "echo");
  const [port, optionalPort] = [await freePort(), await freePort()];
  const server = pki.leaf("shop.example", "DNS:shop.example", "serverAuth");
  const allowed = pki.leaf("y", "URI:spiffe://td/ns/x/sa/y", "clientAuth");
  const stranger = pki.leaf("z", "URI:spiffe://td/ns/other/sa/z", "clientAuth");
  const foreign = other.leaf("y", "URI:spiffe://td/ns/x/sa/y", "clientAuth");

  const yaml = `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: shop, port: ${port}, protocol: HTTPS, hostname: shop.example, tls: { certificateRefs: [{ name: shop-cert }] } }
    - { name: optional, port: ${optionalPort}, protocol: HTTPS, hostname: shop.example, tls: { certificateRefs: [{ name: shop-cert }] } }
  tls:
    frontend:
      default:
        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: client-ca }] }
      perPort:
        - port: ${optionalPort}
          tls: { validation: { mode: AllowInsecureFallback, caCertificateRefs: [{ group: "", kind: ConfigMap, name: client-ca }] } }
${tlsSecretYaml("infra", "shop-cert", server)}${caConfigMapYaml("infra", "client-ca", pki.root)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: only-y, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["td/ns/x/sa/y"] } }]
      to: [{ operation: { paths: ["/hello"] } }]
    - from: [{ source: { namespaces: ["x"] } }]
      to: [{ operation: { paths: ["/by-namespace"] } }]
${serviceYaml("infra", "echo", 80, [backend])}`;
  await startGatewayHarness(t, { gateway: "infra/edge", yaml });

  const ok = await get(port, pki, allowed);
  assert.equal(ok.status, 200, ok.error ?? ok.body);
  assert.equal(JSON.parse(ok.body!).backend, "echo");
  assert.equal((await get(port, pki, allowed, "/by-namespace")).status, 200, "source namespace x from the SPIFFE ID");

  const otherId = await get(port, pki, stranger);
  assert.equal(otherId.status, 403, "a verified certificate with another identity is not in principals");
  assert.equal((await get(port, pki, stranger, "/by-namespace")).status, 403);

  const none = await get(port, pki, undefined);
  assert.equal(none.status, undefined, "without a client certificate the handshake fails (AllowValidOnly)");
  assert.ok(none.error, "the client sees a TLS/connection error");
  const wrongCa = await get(port, pki, foreign);
  assert.equal(wrongCa.status, undefined, "a certificate from another CA fails the handshake, whatever its SAN");
  assert.ok(wrongCa.error);

  // AllowInsecureFallback: no certificate is let through the handshake, but carries no
  // principal, so the ALLOW policy answers 403; a valid certificate still counts.
  assert.equal((await get(optionalPort, pki, undefined)).status, 403);
  assert.equal((await get(optionalPort, pki, allowed)).status, 200);
});
