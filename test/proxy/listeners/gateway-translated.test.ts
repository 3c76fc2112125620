// End to end from configuration: a Gateway with HTTPS listeners (exact and wildcard
// hostnames, and one without a hostname serving two certificates) run through the model,
// the translator and the xDS encoder; the proxy's listeners bind what comes out.

import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import type { EnvoyResource } from "../../../src/proxy/contracts.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { translate } from "../../../src/translate/index.js";
import { decodeResource } from "../../../src/xds/envoy-protos.js";
import { buildSnapshots } from "../../../src/xds/resources/build-snapshots.js";
import { modelOf } from "../../helpers/model.js";
import { testCertificateSource } from "../../xds/resources/fixtures.js";
import { curl, echoHandler, issue, makePki, tlsConnect, type Echo } from "./helpers.js";
import { freePort } from "../../helpers/free-port.js";


const indent = (pem: string): string => pem.trim().split("\n").join("\n      ");

test("translated Gateway HTTPS listeners: SNI exact / wildcard / no-hostname with two certificates", async (t) => {
  const pki = await makePki();
  const shop = await issue(pki, "spiffe://example.org/gw", ["shop.example"]);
  const api = await issue(pki, "spiffe://example.org/gw", ["*.api.example"]);
  const [p1, p2] = [await freePort(), await freePort()];
  const secret = (name: string, c: { chainPem: string; keyPem: string }): string => `
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: infra }
type: kubernetes.io/tls
stringData:
  tls.crt: |
      ${indent(c.chainPem)}
  tls.key: |
      ${indent(c.keyPem)}
`;
  const yaml = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners:
    - { name: shop, port: ${p1}, protocol: HTTPS, hostname: shop.example, tls: { mode: Terminate, certificateRefs: [{ name: shop-cert }] } }
    - { name: api, port: ${p1}, protocol: HTTPS, hostname: "*.api.example", tls: { mode: Terminate, certificateRefs: [{ name: api-cert }] } }
    - { name: fallback, port: ${p2}, protocol: HTTPS, tls: { mode: Terminate, certificateRefs: [{ name: shop-cert }, { name: api-cert }] } }
---${secret("shop-cert", shop)}---${secret("api-cert", api)}`;
  const result = modelOf(yaml);
  assert.deepEqual(
    result.problems.filter((p) => p.severity === "error").map((p) => p.message),
    [],
  );
  const { source } = await testCertificateSource();
  const snapshot = buildSnapshots(translate(result.model, 1), source);
  const node = snapshot.nodes.get("gateway~infra~gw");
  assert.ok(node, "the gateway has resources");
  const decode = (kind: "listener" | "secret"): Map<string, EnvoyResource> => new Map([...node.resources[kind].values()].map((r) => [r.name, decodeResource(r.typeUrl, r.value)]));
  const listeners = decode("listener");
  // The gateway listens on all addresses; bind loopback only in the test.
  for (const l of listeners.values()) ((l.address as { socketAddress: { address: string } }).socketAddress.address = "127.0.0.1");

  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(listeners, decode("secret"), echoHandler);
  assert.deepEqual(m.bound().map((b) => b.port).sort(), [p1, p2].sort());

  for (const [host, port, serial] of [
    ["shop.example", p1, shop.serialNumber],
    ["v1.api.example", p1, api.serialNumber],
    ["shop.example", p2, shop.serialNumber],
    ["v1.api.example", p2, api.serialNumber], // two certificates on one chain: picked by SNI
    ["other.example", p2, shop.serialNumber], // none matches: the first
  ] as const) {
    const s = await tlsConnect(port, { servername: host, ca: pki.rootPem, checkServerIdentity: () => undefined });
    assert.equal(new X509Certificate(s.getPeerCertificate().raw).serialNumber, serial, `${host}:${port}`);
    s.destroy();
  }
  const r = await curl(["-k", "--resolve", `v1.api.example:${p1}:127.0.0.1`, `https://v1.api.example:${p1}/x`]);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as Echo;
  assert.equal(e.chain, "https|" + p1 + "|api");
  assert.equal((e.statPrefix as string).startsWith("gateway_"), true);
  // SNI outside the port's hostnames: no chain, closed.
  await assert.rejects(tlsConnect(p1, { servername: "nope.example", ca: pki.rootPem, checkServerIdentity: () => undefined }));
});
