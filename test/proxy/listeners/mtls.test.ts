import { test } from "node:test";
import { createHash, X509Certificate } from "node:crypto";
import assert from "node:assert/strict";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { asReceived, caSecret, certSecret, chain, echoHandler, issue, listener, makePki, mapOf, portOf, tlsConnect, type Echo } from "./helpers.js";
import type * as tls from "node:tls";
import { Writable } from "node:stream";
import { createLogger } from "../../../src/telemetry/logger.js";

const pki = await makePki();
const server = await issue(pki, "spiffe://example.org/ns/shop/sa/cart");
const client = await issue(pki, "spiffe://example.org/ns/edge/sa/gateway");
const foreignPki = await makePki();
const foreign = await issue(foreignPki, "spiffe://example.org/ns/edge/sa/gateway");
const secrets = mapOf(certSecret("default", server), caSecret("ROOTCA", pki.rootPem));

/** Sends one HTTP/1.1 request on an established TLS socket and parses the echo. */
function get(s: tls.TLSSocket, path: string): Promise<Echo> {
  return new Promise((resolve, reject) => {
    let data = "";
    s.setEncoding("utf8");
    const onData = (d: string): void => {
      data += d;
      const i = data.indexOf("\r\n\r\n");
      if (i < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(data.slice(0, i))?.[1]);
      if (data.length - i - 4 >= len) {
        s.removeListener("data", onData);
        resolve(JSON.parse(data.slice(i + 4, i + 4 + len)) as Echo);
      }
    };
    s.on("data", onData);
    s.once("error", reject);
    s.once("close", () => reject(new Error("connection closed")));
    s.write(`GET ${path} HTTP/1.1\r\nhost: cart\r\n\r\n`);
  });
}

const opts = { ca: pki.rootPem, checkServerIdentity: () => undefined, ALPNProtocols: ["http/1.1"] };

test("STRICT: a client certificate is required and verified; the peer's SPIFFE ID reaches the handler", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("inbound", [chain({ name: "inbound|tls", certs: ["default"], caSecret: "ROOTCA", requireClientCert: true })])), secrets, echoHandler);
  const port = portOf(m.bound(), "inbound");

  const s = await tlsConnect(port, { ...opts, cert: client.chainPem, key: client.keyPem });
  const e = await get(s, "/who");
  s.destroy();
  assert.equal(e.tls?.peerSpiffeId, "spiffe://example.org/ns/edge/sa/gateway");
  assert.match(e.tls?.peerSubjectAltName ?? "", /URI:spiffe:\/\/example\.org\/ns\/edge\/sa\/gateway/);
  assert.equal(e.scheme, "https");
  // What x-forwarded-client-cert is made of: the client's URI SANs and certificate hash, and the URI SAN this listener presented.
  assert.deepEqual(e.tls?.peerUriSans, ["spiffe://example.org/ns/edge/sa/gateway"]);
  assert.equal(e.tls?.peerCertificateHash, createHash("sha256").update(new X509Certificate(client.chainPem).raw).digest("hex"));
  assert.deepEqual(e.tls?.localUriSans, ["spiffe://example.org/ns/shop/sa/cart"]);

  // No certificate: the handshake (or the first read, with TLS 1.3) fails.
  await assert.rejects(async () => {
    const n = await tlsConnect(port, opts);
    await get(n, "/x");
  });
  // A certificate from another root: refused.
  await assert.rejects(async () => {
    const f = await tlsConnect(port, { ...opts, cert: foreign.chainPem, key: foreign.keyPem });
    await get(f, "/x");
  });
});

test("PERMISSIVE-style optional client certificate: none is fine, an untrusted one is refused", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("inbound", [chain({ name: "tls", certs: ["default"], caSecret: "ROOTCA", requireClientCert: false }), chain({ name: "raw" })])), secrets, echoHandler);
  const port = portOf(m.bound(), "inbound");
  const anon = await tlsConnect(port, opts);
  const e = await get(anon, "/anon");
  anon.destroy();
  assert.equal(e.chain, "tls");
  assert.equal(e.tls?.peerSpiffeId, undefined);
  await assert.rejects(async () => {
    const f = await tlsConnect(port, { ...opts, cert: foreign.chainPem, key: foreign.keyPem });
    await get(f, "/x");
  });
});

test("matchTypedSubjectAltNames: only the listed SPIFFE ID is accepted", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  const l = asReceived("listener", {
    name: "inbound",
    address: { socketAddress: { address: "127.0.0.1", portValue: 0 } },
    filterChains: [
      {
        ...chain({ name: "tls", certs: ["default"], requireClientCert: true }),
        transportSocket: {
          name: "envoy.transport_sockets.tls",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            commonTlsContext: {
              tlsCertificateSdsSecretConfigs: [{ name: "default" }],
              combinedValidationContext: {
                defaultValidationContext: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { exact: "spiffe://example.org/ns/edge/sa/other" } }] },
                validationContextSdsSecretConfig: { name: "ROOTCA" },
              },
            },
            requireClientCertificate: { value: true },
          },
        },
      },
    ],
  });
  await m.apply(mapOf(l), secrets, echoHandler);
  const port = portOf(m.bound(), "inbound");
  await assert.rejects(async () => {
    const s = await tlsConnect(port, { ...opts, cert: client.chainPem, key: client.keyPem });
    await get(s, "/x");
  });
  const other = await issue(pki, "spiffe://example.org/ns/edge/sa/other");
  const ok = await tlsConnect(port, { ...opts, cert: other.chainPem, key: other.keyPem });
  const e = await get(ok, "/y");
  ok.destroy();
  assert.equal(e.tls?.peerSpiffeId, "spiffe://example.org/ns/edge/sa/other");
});

test("a client certificate from another root is logged as a warning naming the peer and the verify error, once per peer and reason", async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ format: "json", destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const m = new ListenerManager({ logger });
  t.after(() => m.close());
  await m.apply(mapOf(listener("inbound", [chain({ name: "inbound|tls", certs: ["default"], caSecret: "ROOTCA", requireClientCert: true })])), secrets, echoHandler);
  const port = portOf(m.bound(), "inbound");
  for (let i = 0; i < 3; i++) {
    await assert.rejects(async () => {
      const f = await tlsConnect(port, { ...opts, cert: foreign.chainPem, key: foreign.keyPem });
      await get(f, "/x");
    });
  }
  const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; peer?: string }).filter((l) => l.level === 40);
  assert.equal(warnings.length, 1, lines.join(""));
  assert.equal(warnings[0]!.peer, "spiffe://example.org/ns/edge/sa/gateway");
  assert.equal(
    warnings[0]!.msg,
    "client certificate of spiffe://example.org/ns/edge/sa/gateway rejected: unable to get local issuer certificate (UNABLE_TO_GET_ISSUER_CERT_LOCALLY); this listener's trust bundle does not hold the root its chain leads to",
  );
});
