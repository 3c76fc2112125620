// TLS through the embedded gateway: HTTPS listeners choosing their certificate by SNI
// (exact and wildcard hostnames), HTTP/2 over TLS, and mTLS to a backend that requires a
// client certificate, verified per BackendTLSPolicy — with a wrong CA or a wrong name
// answered 503 and the reason logged. Clients: curl and undici.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { serviceYaml, startEcho, type EchoBackend, type EchoRequest } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";
import { caConfigMapYaml, createTestPki, tlsSecretYaml, type TestPki } from "../helpers/test-pki.js";

const run = promisify(execFile);

interface Setup {
  readonly port: number;
  readonly pki: TestPki;
  readonly other: TestPki;
  readonly backend: EchoBackend;
  readonly dir: string;
}

function config(s: Setup, validation: { ca: "right" | "wrong"; hostname: string }): string {
  const shop = s.pki.leaf("shop.example", "DNS:shop.example", "serverAuth");
  const api = s.pki.leaf("api", "DNS:*.api.example", "serverAuth");
  const client = s.pki.leaf("edge", "URI:spiffe://test.local/ns/infra/sa/edge", "clientAuth");
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: shop, port: ${s.port}, protocol: HTTPS, hostname: shop.example, tls: { certificateRefs: [{ name: shop-cert }] } }
    - { name: api, port: ${s.port}, protocol: HTTPS, hostname: "*.api.example", tls: { certificateRefs: [{ name: api-cert }] } }
  tls:
    backend:
      clientCertificateRef: { name: client-cert }
${tlsSecretYaml("infra", "shop-cert", shop)}${tlsSecretYaml("infra", "api-cert", api)}${tlsSecretYaml("infra", "client-cert", client)}${caConfigMapYaml("infra", "backend-ca", validation.ca === "right" ? s.pki.root : s.other.root)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: infra }
spec:
  parentRefs: [{ name: edge, sectionName: shop }]
  rules: [{ backendRefs: [{ name: secure, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: infra }
spec:
  parentRefs: [{ name: edge, sectionName: api }]
  rules: [{ backendRefs: [{ name: secure, port: 443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: secure-tls, namespace: infra }
spec:
  targetRefs: [{ group: "", kind: Service, name: secure }]
  validation:
    caCertificateRefs: [{ group: "", kind: ConfigMap, name: backend-ca }]
    hostname: ${validation.hostname}
${serviceYaml("infra", "secure", 443, [s.backend])}`;
}

async function setup(t: import("node:test").TestContext) {
  const pki = createTestPki("e2e");
  const other = createTestPki("other");
  t.after(() => {
    pki.close();
    other.close();
  });
  const server = pki.leaf("backend.test.local", "DNS:backend.test.local", "serverAuth");
  const backend = await startEcho(t, "secure", { tls: { cert: server.chain, key: server.key, ca: pki.root, requestCert: true } });
  const s: Setup = { port: await freePort(), pki, other, backend, dir: "" };
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(s, { ca: "right", hostname: "backend.test.local" }) });
  const caFile = join(h.stateDir, "..", "client-root.pem");
  writeFileSync(caFile, pki.root);
  return { s: { ...s, dir: caFile }, h };
}

/** curl with SNI `host` resolved to 127.0.0.1; returns status, HTTP version, body. */
async function curl(s: Setup, host: string, extra: string[] = []) {
  const r = await run("curl", ["-s", "--cacert", s.dir, "--resolve", `${host}:${s.port}:127.0.0.1`, "-w", "\n%{http_code} %{http_version}", ...extra, `https://${host}:${s.port}/hello`]).catch((e: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: e.stdout ?? "", stderr: `${e.stderr ?? ""} (curl exit ${e.code})` }));
  const lines = r.stdout.split("\n");
  const [status, version] = (lines.pop() ?? "").split(" ");
  return { status: Number(status), version, body: lines.join("\n"), stderr: r.stderr };
}

test("HTTPS: the certificate is chosen by SNI (exact and wildcard), HTTP/2 by ALPN, and the backend gets mTLS with the gateway's client certificate", async (t) => {
  const { s } = await setup(t);
  const shop = await curl(s, "shop.example", ["--http1.1"]);
  assert.equal(shop.status, 200, shop.stderr);
  assert.equal(shop.version, "1.1");
  const echo = JSON.parse(shop.body) as EchoRequest;
  assert.equal(echo.backend, "secure");
  assert.equal(echo.peer, "spiffe://test.local/ns/infra/sa/edge", "the backend saw the gateway's client certificate");
  assert.equal(echo.headers["x-forwarded-proto"], "https");
  const api = await curl(s, "v1.api.example", ["--http2"]);
  assert.equal(api.status, 200, api.stderr);
  assert.equal(api.version, "2", "HTTP/2 negotiated by ALPN");
  // The wildcard certificate does not cover shop.example, and vice versa: curl verifies the name.
  const { stdout } = await run("sh", ["-c", `echo | openssl s_client -connect 127.0.0.1:${s.port} -servername v1.api.example 2>/dev/null | openssl x509 -noout -ext subjectAltName`]);
  assert.match(stdout, /DNS:\*\.api\.example/);
  const none = await run("sh", ["-c", `echo | openssl s_client -connect 127.0.0.1:${s.port} -servername other.example 2>&1 | head -5`]);
  assert.doesNotMatch(none.stdout, /DNS:shop\.example|DNS:\*\.api\.example/, "an unknown name gets no certificate");
  // TLS 1.1 and older are refused.
  const old = await run("sh", ["-c", `echo | openssl s_client -connect 127.0.0.1:${s.port} -servername shop.example -tls1_1 2>&1; true`]);
  assert.match(old.stdout, /alert protocol version|no protocols available|unsupported protocol/i);
});

test("BackendTLSPolicy: a backend certificate from another CA, or for another name, is refused with 503", async (t) => {
  const { s, h } = await setup(t);
  assert.equal((await curl(s, "shop.example")).status, 200);
  await h.write(config(s, { ca: "wrong", hostname: "backend.test.local" }));
  const wrongCa = await curl(s, "shop.example");
  assert.equal(wrongCa.status, 503);
  assert.match(wrongCa.body, /upstream connect error/);
  const tlsLog = h.logs.find((l) => /upstream TLS to 127\.0\.0\.1:\d+ \(cluster [^)]+\) failed/.test(l));
  assert.ok(tlsLog, "the gateway logs why the upstream TLS handshake failed");
  assert.match(tlsLog!, /certificate|verify|issuer/i);
  await h.write(config(s, { ca: "right", hostname: "other.test.local" }));
  const wrongName = await curl(s, "shop.example");
  assert.equal(wrongName.status, 503);
  await h.write(config(s, { ca: "right", hostname: "backend.test.local" }));
  assert.equal((await curl(s, "shop.example")).status, 200, "fixing the policy fixes the route");
});
