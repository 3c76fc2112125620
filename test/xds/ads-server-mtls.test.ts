// The ADS server over mTLS with SVIDs issued by meshgate's own PKI: a proxy gets its
// secrets only when its certificate proves the identity its node id belongs to; a proxy
// claiming someone else's node id is refused; plaintext streams never receive secrets.
// Also: typed errors when the server cannot start.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { MeshgateError } from "../../src/errors.js";
import { FastSvidIssuer, SpiffeId, TrustDomain, createIntermediateCa, createRootCa, generateKeyPair, privateKeyToPem } from "../../src/pki/index.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { AdsServer, spiffeIdsOf } from "../../src/xds/ads-server.js";
import { TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { adsChannel, DeltaClient, names, SotwClient } from "../helpers/ads-client.js";
import { startAds } from "../helpers/ads-server.js";
import { node, res, snapshotSet } from "../helpers/xds-snapshots.js";
import { createPublicKey, X509Certificate } from "node:crypto";
import { connect as tlsConnect } from "node:tls";

const td = TrustDomain.parse("example.org");
const root = await createRootCa({ trustDomain: td });
const issuer = new FastSvidIssuer(await createIntermediateCa(root, { mesh: "shop" }));

function svid(id: string): { chainPem: string; keyPem: string } {
  const { privateKey } = generateKeyPair("ec-p256");
  const out = issuer.issueForKey(createPublicKey(privateKey), SpiffeId.parse(id));
  return { chainPem: out.chainPem, keyPem: privateKeyToPem(privateKey) };
}

const CONTROL_PLANE = "spiffe://example.org/ns/meshgate-system/sa/control-plane";
const serverSvid = svid(CONTROL_PLANE);
const CART = { node: "sidecar~shop~cart", id: "spiffe://example.org/ns/shop/sa/cart" };
const PAY = { node: "sidecar~shop~pay", id: "spiffe://example.org/ns/shop/sa/pay" };
const identities: Record<string, string> = { [CART.node]: CART.id, [PAY.node]: PAY.id };

const cartSecret = res.secret("default", "CART-CHAIN", "CART-KEY");
const paySecret = res.secret("default", "PAY-CHAIN", "PAY-KEY");
const snapshot = snapshotSet("v1", {
  [CART.node]: node("v1", { cluster: [res.cluster("shop/pay")], secret: [cartSecret] }),
  [PAY.node]: node("v1", { cluster: [res.cluster("shop/cart")], secret: [paySecret] }),
});

/** A proxy's channel: presents its SVID and accepts only the control plane's SPIFFE ID. */
function proxyChannel(port: number, cred: { chainPem: string; keyPem: string }): grpc.Client {
  const creds = grpc.credentials.createSsl(Buffer.from(root.certificatePem), Buffer.from(cred.keyPem), Buffer.from(cred.chainPem), {
    checkServerIdentity: (_host, cert) => (spiffeIdsOf(cert.subjectaltname).includes(CONTROL_PLANE) ? undefined : new Error(`unexpected control plane ${cert.subjectaltname}`)),
  });
  return adsChannel(port, creds);
}

async function startMtls(t: import("node:test").TestContext, logLines?: string[]) {
  const destination = new PassThrough();
  destination.on("data", (d: Buffer) => logLines?.push(d.toString()));
  const server = new AdsServer({
    security: { mode: "mtls", rootCaPem: root.certificatePem, certChainPem: serverSvid.chainPem, privateKeyPem: serverSvid.keyPem, identityOf: (n) => identities[n] },
    snapshot,
    debounceMs: 10,
    logger: createLogger({ format: "json", destination }),
  });
  const port = await server.listen("127.0.0.1:0");
  const channels: grpc.Client[] = [];
  t.after(async () => {
    for (const c of channels) c.close();
    await server.close();
  });
  return { server, port, channel: (cred: { chainPem: string; keyPem: string }) => {
    const c = proxyChannel(port, cred);
    channels.push(c);
    return c;
  } };
}

test("mTLS: a proxy whose SVID matches its node id receives its own secret, and only its own", async (t) => {
  const { server, channel } = await startMtls(t);
  const c = new SotwClient(channel(svid(CART.id)), CART.node);
  c.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default"] });
  const r = await c.next();
  assert.deepEqual(names(r), ["default"]);
  assert.deepEqual(Buffer.from(r.resources[0]!.value), Buffer.from(cartSecret.value));
  assert.notDeepEqual(Buffer.from(r.resources[0]!.value), Buffer.from(paySecret.value));
  c.ack(r);
  c.send({ typeUrl: TYPE_URLS.cluster });
  const cds = await c.next();
  assert.deepEqual(names(cds), ["shop/pay"]);
  assert.equal(server.syncz().proxies[0]!.identity, CART.id);
  c.close();
});

test("mTLS: a proxy claiming another node id is refused with PERMISSION_DENIED, and the refusal is logged", async (t) => {
  const lines: string[] = [];
  const { server, channel } = await startMtls(t, lines);
  const c = new SotwClient(channel(svid(CART.id)), PAY.node);
  c.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default"] });
  const status = await c.closed;
  assert.equal(status.code, grpc.status.PERMISSION_DENIED);
  assert.match(status.details, /sidecar~shop~pay belongs to spiffe:\/\/example\.org\/ns\/shop\/sa\/pay/);
  assert.deepEqual(await c.collect(30), [], "no response, least of all the secret");
  assert.equal(server.syncz().proxies.length, 0);
  const logged = lines.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const refusal = logged.find((l) => String(l.msg).includes("refused"));
  assert.ok(refusal, lines.join(""));
  assert.equal(refusal.node, PAY.node);
  assert.deepEqual(refusal.presented, [CART.id]);
});

test("mTLS: a Delta stream with the right SVID gets its secret; a node without an identity is served but never gets secrets", async (t) => {
  const { channel } = await startMtls(t);
  const d = new DeltaClient(channel(svid(PAY.id)), PAY.node);
  d.send({ typeUrl: TYPE_URLS.secret, subscribe: ["default"] });
  const r = await d.next();
  assert.deepEqual(names(r), ["default"]);
  assert.equal(r.resources[0]!.version, paySecret.version);
  d.close();

  // A proxyless client: authenticated by its certificate, unknown node id -> fallback, no secrets.
  const anon = new DeltaClient(channel(svid("spiffe://example.org/ns/shop/sa/grpc-client")), "grpc-client-7");
  anon.send({ typeUrl: TYPE_URLS.secret, subscribe: ["default"] });
  const none = await anon.next();
  assert.deepEqual(none.resources, []);
  assert.deepEqual(none.removedResources, ["default"]);
  anon.close();
});

test("mTLS: a client without a certificate cannot open a stream", async (t) => {
  const { port } = await startMtls(t);
  const creds = grpc.credentials.createSsl(Buffer.from(root.certificatePem), null, null, { checkServerIdentity: () => undefined });
  const ch = adsChannel(port, creds);
  t.after(() => ch.close());
  const c = new SotwClient(ch, CART.node);
  c.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default"] });
  const status = await c.closed;
  assert.equal(status.code, grpc.status.UNAVAILABLE);
});

test("plaintext: streams never receive secrets, whatever node id they claim (SotW and Delta)", async (t) => {
  const { channel } = await startAds(t, snapshot);
  const s = new SotwClient(channel(), CART.node);
  s.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default"] });
  const r = await s.next();
  assert.deepEqual(r.resources, []);
  s.send({ typeUrl: TYPE_URLS.cluster });
  assert.deepEqual(names(await s.next()), ["shop/pay"], "everything else is served");
  s.close();
  const d = new DeltaClient(channel(), CART.node);
  d.send({ typeUrl: TYPE_URLS.secret, subscribe: ["default"] });
  const dr = await d.next();
  assert.deepEqual(dr.resources, []);
  assert.deepEqual(dr.removedResources, ["default"]);
  d.close();
});

test("start failures are typed: ERR_XDS_LISTEN for a port in use, ERR_XDS_TLS_CONFIG for unusable PEM", async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  t.after(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const plain = new AdsServer({ security: { mode: "plaintext" } });
  await assert.rejects(plain.listen(`127.0.0.1:${port}`), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_XDS_LISTEN" && e.message.includes(`127.0.0.1:${port}`));
  await plain.close();

  const bad = new AdsServer({ security: { mode: "mtls", rootCaPem: "not a certificate", certChainPem: serverSvid.chainPem, privateKeyPem: serverSvid.keyPem, identityOf: () => undefined } });
  await assert.rejects(bad.listen("127.0.0.1:0"), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_XDS_TLS_CONFIG");
  await bad.close();

  const mismatched = new AdsServer({ security: { mode: "mtls", rootCaPem: root.certificatePem, certChainPem: serverSvid.chainPem, privateKeyPem: svid(CART.id).keyPem, identityOf: () => undefined } });
  await assert.rejects(mismatched.listen("127.0.0.1:0"), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_XDS_TLS_CONFIG" && /key/i.test(e.message));
  await mismatched.close();
});

/** The certificate a new TLS handshake with the server gets. */
function servedSerial(port: number, cred: { chainPem: string; keyPem: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca: root.certificatePem, cert: cred.chainPem, key: cred.keyPem, ALPNProtocols: ["h2"], checkServerIdentity: () => undefined }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on("error", reject);
  });
}

test("mTLS: updateTls renews the server's certificate: new handshakes get the new one, an open stream keeps being served; unusable material is refused and the current one kept", async (t) => {
  const { server, port, channel } = await startMtls(t);
  const cart = svid(CART.id);
  const before = await servedSerial(port, cart);
  assert.equal(before, new X509Certificate(serverSvid.chainPem).serialNumber);
  const open = new SotwClient(channel(cart), CART.node);
  open.send({ typeUrl: TYPE_URLS.cluster });
  open.ack(await open.next());

  const renewed = svid(CONTROL_PLANE);
  server.updateTls({ rootCaPem: root.certificatePem, certChainPem: renewed.chainPem, privateKeyPem: renewed.keyPem });
  assert.equal(await servedSerial(port, cart), new X509Certificate(renewed.chainPem).serialNumber, "a new handshake meets the renewed certificate");
  // A proxy connecting now (checking the control plane's SPIFFE ID) is served.
  const fresh = new SotwClient(channel(svid(PAY.id)), PAY.node);
  fresh.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default"] });
  assert.deepEqual(names(await fresh.next()), ["default"]);
  fresh.close();
  // The stream opened before the renewal still gets updates.
  server.update(snapshotSet("v2", { [CART.node]: node("v2", { cluster: [res.cluster("shop/pay"), res.cluster("shop/tax")] }) }));
  assert.deepEqual(names(await open.next()), ["shop/pay", "shop/tax"]);
  open.close();

  assert.throws(() => server.updateTls({ rootCaPem: root.certificatePem, certChainPem: renewed.chainPem, privateKeyPem: svid(CART.id).keyPem }), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_XDS_TLS_CONFIG");
  assert.equal(await servedSerial(port, cart), new X509Certificate(renewed.chainPem).serialNumber, "the refused material changed nothing");
});
