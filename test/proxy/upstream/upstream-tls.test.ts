import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { ClusterManager } from "../../../src/proxy/upstream/cluster-manager.js";
import type { IrUpstreamTls } from "../../../src/ir/index.js";
import { caSecret, captureLogger, certificateSecret, config, endpoint, irCluster, meshPki, send, startBackend, type Backend } from "./helpers.js";

const pki = await meshPki("mesh.test");
const other = await meshPki("mesh.test");
const API_ID = "spiffe://mesh.test/ns/apps/sa/api";
const serverSvid = await pki.svid(API_ID, ["api.example.com"]);
const gatewaySvid = await pki.svid("spiffe://mesh.test/ns/edge/sa/gateway");
const CLUSTER = "outbound|8443||api.apps.svc.cluster.local";

/** An mTLS backend that requires a client certificate and answers with the client's SAN. */
async function mtlsBackend(t: Parameters<typeof startBackend>[0]): Promise<Backend> {
  return startBackend(t, (req, res) => res.end((req.socket as TLSSocket).getPeerCertificate().subjectaltname ?? "none"), {
    cert: serverSvid.chainPem,
    key: serverSvid.keyPem,
    ca: pki.rootPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
}

function tls(over: Partial<IrUpstreamTls> = {}): IrUpstreamTls {
  return { sni: "api.apps.svc.cluster.local", clientCertificate: "default", validationSecret: "ROOTCA", subjectAltNames: [{ type: "URI", value: API_ID }], ...over };
}

function secrets(client = gatewaySvid, root = pki.rootPem) {
  return [certificateSecret("default", client.chainPem, client.keyPem), caSecret("ROOTCA", root)];
}

test("mTLS: SPIFFE SAN matches, the client certificate (the proxy's SVID) is presented", async (t) => {
  const b = await mtlsBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets()));
  const out = await send(m.get(CLUSTER)!);
  assert.equal(out.status, 200);
  assert.equal(out.body, "URI:spiffe://mesh.test/ns/edge/sa/gateway");
  // SAN matchers: prefix (and a DNS SAN) also work.
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls({ subjectAltNames: [{ type: "DNS", value: "nope.example.com" }, { type: "DNS", value: "api.example.com" }] }) })], secrets()));
  assert.equal((await send(m.get(CLUSTER)!)).status, 200);
});

test("a wrong CA is a connect-failure with a clear message, logged once per endpoint", async (t) => {
  const b = await mtlsBackend(t);
  const { logger, lines } = captureLogger();
  const m = new ClusterManager({ logger });
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets(gatewaySvid, other.rootPem)));
  const want = `upstream TLS to 127.0.0.1:${b.port} (cluster ${CLUSTER}) failed: certificate verify failed: unable to get local issuer certificate (CERTIFICATE_VERIFY_FAILED)`;
  for (let i = 0; i < 3; i++) {
    const out = await send(m.get(CLUSTER)!);
    assert.equal(out.error?.kind, "connect-failure");
    assert.equal(out.error?.message, want);
  }
  assert.deepEqual(lines, [want]);
  assert.equal(b.hits, 0);
});

test("a certificate without the expected SPIFFE ID is refused, naming both IDs", async (t) => {
  const b = await mtlsBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls({ subjectAltNames: [{ type: "URI", value: "spiffe://mesh.test/ns/apps/sa/other" }] }) })], secrets()));
  const out = await send(m.get(CLUSTER)!);
  assert.equal(out.error?.kind, "connect-failure");
  assert.equal(out.error?.message, `upstream TLS to 127.0.0.1:${b.port} (cluster ${CLUSTER}) failed: certificate SAN ${API_ID} does not match spiffe://mesh.test/ns/apps/sa/other`);
  assert.equal(b.hits, 0);
});

test("without SAN matchers the certificate is checked against the SNI name", async (t) => {
  const b = await mtlsBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("ok", { endpoints: [endpoint(b.port)], tls: tls({ sni: "api.example.com", subjectAltNames: [] }) }), irCluster("bad", { endpoints: [endpoint(b.port)], tls: tls({ sni: "evil.example.com", subjectAltNames: [] }) })], secrets()));
  assert.equal((await send(m.get("ok")!)).status, 200);
  const bad = await send(m.get("bad")!);
  assert.equal(bad.error?.kind, "connect-failure");
  assert.match(bad.error!.message, /failed: certificate does not match the SNI name evil\.example\.com/);
});

test("a backend requiring a client certificate refuses a cluster that presents none", async (t) => {
  const b = await mtlsBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  const { clientCertificate: _, ...noClient } = tls();
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: noClient })], secrets()));
  const out = await send(m.get(CLUSTER)!);
  assert.ok(out.error, "no response without a client certificate");
  assert.equal(b.hits, 0);
});

test("SVID rotation: new connections present the new certificate, the old connection drains", async (t) => {
  const b = await mtlsBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets()));
  assert.equal((await send(m.get(CLUSTER)!)).body, "URI:spiffe://mesh.test/ns/edge/sa/gateway");
  const rotated = await pki.svid("spiffe://mesh.test/ns/edge/sa/gateway-rotated");
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets(rotated)));
  assert.equal((await send(m.get(CLUSTER)!)).body, "URI:spiffe://mesh.test/ns/edge/sa/gateway-rotated");
  assert.equal(b.connections, 2);
  // Unchanged secrets keep the pool: no third connection.
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets(rotated)));
  await new Promise(setImmediate);
  assert.equal((await send(m.get(CLUSTER)!)).status, 200);
  assert.equal(b.connections, 2);
});

test("SVID rotation during a retry's backoff: the retry goes out on the new generation's connections, not the drained pool", async (t) => {
  let calls = 0;
  const b = await startBackend(t, (req, res) => {
    calls++;
    if (calls === 1) res.writeHead(503).end("try again");
    else res.end((req.socket as TLSSocket).getPeerCertificate().subjectaltname ?? "none");
  }, { cert: serverSvid.chainPem, key: serverSvid.keyPem, ca: pki.rootPem, requestCert: true, rejectUnauthorized: true });
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets()));
  const retry = { retryOn: ["5xx"], numRetries: 1, retriableStatusCodes: [], backoffBaseMs: 300, backoffMaxMs: 300 };
  const pending = send(m.get(CLUSTER)!, undefined, { timeoutMs: 5000, retry });
  // The first attempt has been answered 503; the retry waits out its backoff while the SVID rotates.
  for (let i = 0; i < 100 && calls === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const rotated = await pki.svid("spiffe://mesh.test/ns/edge/sa/gateway-rotated");
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets(rotated)));
  const out = await pending;
  assert.equal(out.error, undefined, out.error?.message);
  assert.equal(out.status, 200);
  assert.equal(out.body, "URI:spiffe://mesh.test/ns/edge/sa/gateway-rotated", "the retry used the new certificate");
});

test("a cluster whose secret has not arrived waits for it (a current generation keeps serving)", async (t) => {
  const b = await mtlsBackend(t);
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })]));
  const waiting = await send(m.get(CLUSTER)!);
  assert.equal(waiting.error?.kind, "connect-failure");
  assert.match(waiting.error!.message, /secret "default", "ROOTCA" not received yet/);
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls() })], secrets()));
  const serving = m.get(CLUSTER);
  assert.equal((await send(serving!)).status, 200);
  m.apply(...config([irCluster(CLUSTER, { endpoints: [endpoint(b.port)], tls: tls({ clientCertificate: "later" }) })], secrets()));
  assert.equal(m.get(CLUSTER), serving);
});

test("HTTP/2 over TLS (ALPN h2)", async (t) => {
  const server = http2.createSecureServer({ cert: serverSvid.chainPem, key: serverSvid.keyPem, ca: pki.rootPem, requestCert: true, rejectUnauthorized: true });
  let sessions = 0;
  server.on("session", () => sessions++);
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.end(`h2 ${(stream.session!.socket as TLSSocket).alpnProtocol}`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster(CLUSTER, { protocol: "http2", endpoints: [endpoint(port)], tls: tls({ alpn: ["h2"] }) })], secrets()));
  const outs = await Promise.all([1, 2, 3].map(() => send(m.get(CLUSTER)!)));
  for (const o of outs) assert.equal(o.body, "h2 h2");
  assert.equal(sessions, 1);
});
