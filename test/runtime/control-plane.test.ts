// The embedded control plane: configuration in, snapshots served over plaintext and mTLS
// ADS (and the local socket); a compile failure keeps the last good snapshot; SVIDs renew
// under a new version.

import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { PassThrough } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { ControlPlane } from "../../src/runtime/control-plane.js";
import type { AppliedConfig } from "../../src/runtime/config-watcher.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { decodeResource, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { spiffeIdsOf } from "../../src/xds/ads-server.js";
import { adsChannel, names, SotwClient } from "../helpers/ads-client.js";
import { modelOf } from "../helpers/model.js";
import { tempDir } from "../pki/helpers.js";
import { freePort } from "../helpers/free-port.js";

const CONFIG = (ttl: string, extra = "") => `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: shop.local, namespaces: [shop], workloadCertTTL: ${ttl} }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: cart-v1, namespace: shop }
spec: { port: 19080, serviceAccount: cart, services: [cart] }
${extra}`;

const applied = (version: number, yaml: string): AppliedConfig => {
  const result = modelOf(yaml);
  assert.ok(result.model, JSON.stringify(result.problems));
  return { version, result: result as AppliedConfig["result"], files: [], appliedAt: new Date() };
};

async function start(t: import("node:test").TestContext) {
  const cp = await ControlPlane.start({ stateDir: tempDir(t), xds: { host: "127.0.0.1", port: 0 }, xdsTls: { host: "127.0.0.1", port: 0 }, debounceMs: 5, logger: createLogger({ level: "silent" }) });
  const channels: grpc.Client[] = [];
  t.after(async () => {
    for (const c of channels) c.close();
    await cp.close();
  });
  return { cp, track: (c: grpc.Client) => (channels.push(c), c) };
}

test("a sidecar authenticated by its SVID gets its own certificate over the mTLS port; the plaintext port never serves it", async (t) => {
  const { cp, track } = await start(t);
  assert.equal(cp.lastCompile, undefined);
  const before = Date.now();
  assert.equal(await cp.apply(applied(1, CONFIG("24h"))), true);
  assert.ok(cp.ports.xdsTls, "the mTLS port is bound once a Mesh exists");
  const report = cp.lastCompile!;
  assert.equal(report.version, "1");
  assert.ok(report.servedAt >= before);
  assert.ok(report.translateMs >= 0 && report.snapshotMs >= 0 && report.certificatesMs > 0, "issuing the mesh CA takes measurable time");
  assert.ok(report.encoded > 0, "a first build encodes every resource");

  // Bootstrap credentials: the SVID the control plane issues for that workload (what `meshgate pki issue` gives an operator).
  const svid = cp.certificates.svid("spiffe://shop.local/ns/shop/sa/cart");
  const bundle = cp.certificates.trustBundle(["shop.local"]);
  const creds = grpc.credentials.createSsl(Buffer.from(bundle), Buffer.from(svid.keyPem), Buffer.from(svid.certChainPem), {
    checkServerIdentity: (_h, cert) => (spiffeIdsOf(cert.subjectaltname).includes("spiffe://shop.local/meshgate/control-plane") ? undefined : new Error(`unexpected server ${cert.subjectaltname}`)),
  });
  const c = new SotwClient(track(adsChannel(cp.ports.xdsTls!, creds)), "sidecar~shop~cart-v1");
  c.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default", "ROOTCA"] });
  const r = await c.next();
  assert.deepEqual(names(r), ["ROOTCA", "default"]);
  assert.equal(r.versionInfo, "1");
  const secret = decodeResource(TYPE_URLS.secret, r.resources.find((x) => x.name === "default")!.value) as { tlsCertificate: { certificateChain: { inlineString: string } } };
  assert.ok(new X509Certificate(secret.tlsCertificate.certificateChain.inlineString).subjectAltName!.includes("spiffe://shop.local/ns/shop/sa/cart"));
  c.close();

  const plain = new SotwClient(track(adsChannel(cp.ports.xds)), "sidecar~shop~cart-v1");
  plain.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default"] });
  plain.send({ typeUrl: TYPE_URLS.cluster });
  const responses = [await plain.next(), await plain.next()];
  assert.deepEqual(responses.map((r) => [r.typeUrl, r.resources.length > 0]).sort(), [
    [TYPE_URLS.cluster, true],
    [TYPE_URLS.secret, false],
  ], "the plaintext port answers clusters, and secret requests with nothing");
  plain.close();
});

test("a configuration that cannot be compiled keeps the last good snapshot serving and says why", async (t) => {
  const { cp, track } = await start(t);
  assert.equal(await cp.apply(applied(1, CONFIG("24h"))), true);
  const broken = CONFIG("24h").replace("spec: { trustDomain: shop.local, namespaces: [shop], workloadCertTTL: 24h }", "spec: { trustDomain: shop.local, namespaces: [shop], ca: { mode: Provided, path: /nonexistent/cacerts } }");
  assert.equal(await cp.apply(applied(2, broken)), false);
  assert.equal(cp.lastFailure?.version, 2);
  assert.equal(cp.lastCompile?.version, "1", "the report is of the snapshot still serving");
  assert.match(cp.lastFailure!.reason, /Mesh app: .*nonexistent/);
  const c = new SotwClient(track(adsChannel(cp.ports.xds)), "sidecar~shop~cart-v1");
  c.send({ typeUrl: TYPE_URLS.cluster });
  assert.equal((await c.next()).versionInfo, "1");
  c.close();
});

const PAY = `---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: pay-v1, namespace: shop }
spec: { port: 19081, serviceAccount: pay }
`;

/** The serial of the certificate a new TLS handshake with the mTLS xDS port meets. */
function servedSerial(port: number, client: { certChainPem: string; keyPem: string }, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, cert: client.certChainPem, key: client.keyPem, ALPNProtocols: ["h2"], checkServerIdentity: () => undefined }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on("error", reject);
  });
}

test("SVIDs are renewed at half life, together, by one rebuild served under a new version; the mTLS xDS port presents the renewed control plane SVID; identities no longer served are not renewed", { timeout: 30_000 }, async (t) => {
  const lines: string[] = [];
  const destination = new PassThrough();
  destination.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
  const cp = await ControlPlane.start({ stateDir: tempDir(t), xds: { host: "127.0.0.1", port: 0 }, xdsTls: { host: "127.0.0.1", port: 0 }, debounceMs: 5, logger: createLogger({ format: "json", destination }) });
  const channels: grpc.Client[] = [];
  t.after(async () => {
    for (const c of channels) c.close();
    await cp.close();
  });
  // 10 s, the shortest lifetime allowed: renewed 5 s after issue.
  const appliedAt = Date.now();
  assert.equal(await cp.apply(applied(1, CONFIG("10s", PAY))), true);
  const cart = "spiffe://shop.local/ns/shop/sa/cart";
  const before = { cart: cp.certificates.svid(cart), controlPlane: cp.certificates.controlPlaneIdentity() };
  const bundle = cp.certificates.trustBundle(["shop.local"]);
  assert.equal(await servedSerial(cp.ports.xdsTls!, before.cart, bundle), new X509Certificate(before.controlPlane.certChainPem).serialNumber);
  // pay-v1 goes away: its SVID must not be renewed (nor hold the renewal timer in the past).
  assert.equal(await cp.apply(applied(2, CONFIG("10s"))), true);

  const c = new SotwClient(adsChannel(cp.ports.xds), "sidecar~shop~cart-v1");
  channels.push(c as unknown as grpc.Client);
  c.send({ typeUrl: TYPE_URLS.cluster });
  c.ack(await c.next());
  const deadline = appliedAt + 9_000;
  // Version 2 itself is pushed after the debounce, which a busy machine may delay: wait for the renewal, whatever comes first.
  while (Date.now() < deadline && cp.tracker.currentVersion !== "2+certs.1") await new Promise((r) => setTimeout(r, 50));
  assert.equal(cp.tracker.currentVersion, "2+certs.1");
  const renewedAt = Date.now();
  assert.ok(renewedAt - appliedAt >= 4_000, `renewed at half life, not ${renewedAt - appliedAt} ms after issue`);
  const after = { cart: cp.certificates.svid(cart), controlPlane: cp.certificates.controlPlaneIdentity() };
  assert.notEqual(after.cart.certChainPem, before.cart.certChainPem);
  assert.notEqual(after.controlPlane.certChainPem, before.controlPlane.certChainPem, "the control plane's SVID is renewed with the others");
  // New handshakes on the mTLS xDS port meet the renewed SVID.
  assert.equal(await servedSerial(cp.ports.xdsTls!, after.cart, bundle), new X509Certificate(after.controlPlane.certChainPem).serialNumber);
  // Another second: no further renewal (before the fix a removed identity, due and never
  // renewed, made the control plane rebuild without pause).
  await new Promise((r) => setTimeout(r, 1_500));
  const renewals = lines.map((l) => JSON.parse(l) as { msg: string; renewed?: number; version?: string }).filter((l) => l.msg === "certificates renewed and served");
  assert.deepEqual(renewals.map((l) => [l.version, l.renewed]), [["2+certs.1", 2]], "one rebuild renewed cart's SVID and the control plane's together");
  assert.equal(cp.tracker.currentVersion, "2+certs.1");
});

test("the local xDS socket: bound at start (0600, path in ports), serves a sidecar its secrets without a certificate, shares the convergence tracker, removed on close", async (t) => {
  const stateDir = tempDir(t);
  const cp = await ControlPlane.start({ stateDir, xds: { host: "127.0.0.1", port: 0 }, xdsLocal: `${stateDir}/xds.sock`, debounceMs: 5, logger: createLogger({ level: "silent" }) });
  let closed = false;
  t.after(async () => {
    if (!closed) await cp.close();
  });
  assert.equal(cp.ports.xdsLocal, `${stateDir}/xds.sock`);
  assert.equal(statSync(cp.ports.xdsLocal).mode & 0o777, 0o600);
  assert.equal(await cp.apply(applied(1, CONFIG("24h"))), true);
  const channel = new grpc.Client(`unix://${cp.ports.xdsLocal}`, grpc.credentials.createInsecure());
  t.after(() => channel.close());
  const c = new SotwClient(channel, "sidecar~shop~cart-v1");
  c.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["default", "ROOTCA"] });
  const r = await c.next();
  assert.deepEqual(names(r), ["ROOTCA", "default"]);
  c.ack(r);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const proxy = cp.syncz().proxies.find((p) => p.id === "sidecar~shop~cart-v1");
  assert.equal(proxy?.types.SDS?.status, "SYNCED", "the local server reports to the control plane's tracker");
  c.close();
  await cp.close();
  closed = true;
  assert.equal(existsSync(`${stateDir}/xds.sock`), false);
});

test("a control plane whose local socket cannot be bound does not start, and frees its plaintext port", async (t) => {
  const stateDir = tempDir(t);
  writeFileSync(`${stateDir}/xds.sock`, "not a socket");
  const port = await freePort();
  await assert.rejects(
    ControlPlane.start({ stateDir, xds: { host: "127.0.0.1", port }, xdsLocal: `${stateDir}/xds.sock`, logger: createLogger({ level: "silent" }) }),
    (e: unknown) => (e as { code?: string }).code === "ERR_XDS_LISTEN" && /not a socket/.test((e as Error).message),
  );
  const again = createServer();
  await new Promise<void>((resolve, reject) => again.once("error", reject).listen(port, "127.0.0.1", resolve));
  await new Promise((resolve) => again.close(resolve));
});

