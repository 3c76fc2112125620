import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { ChainUntrustedError } from "../../src/errors.js";
import { x509 } from "../../src/pki/x509-library.js";
import {
  FastSvidIssuer,
  SpiffeId,
  TrustDomain,
  X509Svid,
  createCsr,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  matchId,
  privateKeyToPem,
  verifySvidChain,
} from "../../src/pki/index.js";
import type { ChainFailureReason } from "../../src/errors.js";
import { issueOddLeaf, opensslVerify, tempDir, writePem } from "./helpers.js";

const td = TrustDomain.parse("example.org");
const root = await createRootCa({ trustDomain: td });
const intermediate = await createIntermediateCa(root, { mesh: "east" });
const issuer = new FastSvidIssuer(intermediate);

async function svid(id: string): Promise<{ chainPem: string; keyPem: string }> {
  const { privateKey } = generateKeyPair("ec-p256");
  const out = issuer.issueFromCsr(await createCsr(privateKey), SpiffeId.parse(id));
  return { chainPem: out.chainPem, keyPem: privateKeyToPem(privateKey) };
}

test("real mTLS handshake between node:tls server and client with two SVIDs; each side sees the other's URI SAN", async (t) => {
  const server = await svid("spiffe://example.org/ns/shop/sa/cart");
  const client = await svid("spiffe://example.org/ns/edge/sa/gateway");
  const ca = root.certificatePem;
  const srv = tls.createServer({ cert: server.chainPem, key: server.keyPem, ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.end(socket.getPeerCertificate().subjectaltname ?? "");
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  t.after(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    cert: client.chainPem,
    key: client.keyPem,
    ca,
    // SPIFFE authenticates the URI SAN, not a hostname.
    checkServerIdentity: (_host, cert) =>
      cert.subjectaltname === "URI:spiffe://example.org/ns/shop/sa/cart" ? undefined : new Error(`unexpected server ${cert.subjectaltname}`),
  });
  await once(socket, "secureConnect");
  assert.equal(socket.authorized, true);
  assert.equal(socket.getPeerCertificate().subjectaltname, "URI:spiffe://example.org/ns/shop/sa/cart");
  let body = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (body += d));
  await once(socket, "end");
  assert.equal(body, "URI:spiffe://example.org/ns/edge/sa/gateway");
});

test("mTLS with an SVID from a foreign root fails the handshake", async (t) => {
  const otherRoot = await createRootCa({ trustDomain: td });
  const otherIssuer = new FastSvidIssuer(await createIntermediateCa(otherRoot, { mesh: "west" }));
  const { privateKey } = generateKeyPair("ec-p256");
  const foreign = otherIssuer.issueFromCsr(await createCsr(privateKey), SpiffeId.parse("spiffe://example.org/ns/x/sa/y"));
  const server = await svid("spiffe://example.org/ns/shop/sa/cart");
  const srv = tls.createServer({ cert: server.chainPem, key: server.keyPem, ca: root.certificatePem, requestCert: true, rejectUnauthorized: true }, (s) => s.end());
  srv.on("tlsClientError", () => {});
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  t.after(() => srv.close());
  const socket = tls.connect({ host: "127.0.0.1", port: (srv.address() as AddressInfo).port, cert: foreign.chainPem, key: privateKeyToPem(privateKey), ca: otherRoot.certificatePem, checkServerIdentity: () => undefined });
  const [err] = (await once(socket, "error")) as [NodeJS.ErrnoException];
  // The client rejects the server (unknown issuer) before the server can reject the client.
  assert.match(String(err.code ?? err.message), /UNABLE_TO_GET_ISSUER_CERT|unable to get (local )?issuer/i);
});

function expectReason(reason: ChainFailureReason, fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof ChainUntrustedError && e.code === "ERR_PKI_CHAIN_UNTRUSTED" && e.reason === reason, `expected ${reason}`);
}

test("negative cases are rejected with the right reason (and openssl agrees)", async (t) => {
  const dir = tempDir(t);
  const rootPem = writePem(dir, "root.pem", [root.certificate]);
  const intPem = writePem(dir, "int.pem", [intermediate.certificate]);
  const roots = [root.certificate];
  const now = new Date();
  const good = X509Svid.parse((await svid("spiffe://example.org/ns/a/sa/b")).chainPem);

  // Sanity: the good one passes, with the expected ID.
  assert.equal(verifySvidChain({ presented: good.certificates, roots, role: "client", now, expectedId: matchId(good.spiffeId) }).toString(), "spiffe://example.org/ns/a/sa/b");

  // Foreign root.
  const other = await createRootCa({ trustDomain: td });
  expectReason("unknown-authority", () => good.verify([other.certificate], { now, role: "client" }));

  // Expired: move the clock past notAfter.
  expectReason("expired", () => good.verify(roots, { now: new Date(good.notAfter.getTime() + 1000), role: "client" }));
  expectReason("not-yet-valid", () => good.verify(roots, { now: new Date(good.notBefore.getTime() - 1000), role: "client" }));
  const expired = await issueOddLeaf(intermediate, { uris: ["spiffe://example.org/old"], notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) });
  assert.match(opensslVerify(rootPem, intPem, [writePem(dir, "expired.pem", [expired])]).out, /certificate has expired/);

  // Wrong EKU: a server-only certificate used as a client.
  const serverOnly = await issueOddLeaf(intermediate, { uris: ["spiffe://example.org/srv"], eku: [x509.ExtendedKeyUsage.serverAuth] });
  expectReason("wrong-eku", () => verifySvidChain({ presented: [serverOnly, intermediate.certificate], roots, role: "client", now }));
  assert.notEqual(opensslVerify(rootPem, intPem, [writePem(dir, "srv.pem", [serverOnly])], ["-purpose", "sslclient"]).code, 0);

  // Wrong key usage.
  const keyAgreementOnly = await issueOddLeaf(intermediate, { uris: ["spiffe://example.org/ka"], keyUsage: x509.KeyUsageFlags.keyAgreement });
  expectReason("wrong-key-usage", () => verifySvidChain({ presented: [keyAgreementOnly, intermediate.certificate], roots, role: "server", now }));

  // A CA certificate used as a leaf.
  expectReason("ca-as-leaf", () => verifySvidChain({ presented: [intermediate.certificate], roots, role: "server", now }));
  expectReason("ca-as-leaf", () => X509Svid.fromCertificates([intermediate.certificate]));

  // An ID outside the trust domain (signed without the name constraint, so only the trust domain check catches it).
  const loose = await createIntermediateCa(root, { mesh: "loose", nameConstraint: false });
  const outside = await issueOddLeaf(loose, { uris: ["spiffe://other.org/ns/a/sa/b"], eku: [x509.ExtendedKeyUsage.clientAuth] });
  expectReason("outside-trust-domain", () => verifySvidChain({ presented: [outside, loose.certificate], roots, role: "client", now }));

  // The same ID under the name-constrained intermediate violates its name constraint; openssl agrees.
  const constrained = await issueOddLeaf(intermediate, { uris: ["spiffe://other.org/ns/a/sa/b"] });
  expectReason("name-constraint-violated", () => verifySvidChain({ presented: [constrained, intermediate.certificate], roots, role: "client", now }));
  assert.match(opensslVerify(rootPem, intPem, [writePem(dir, "nc.pem", [constrained])]).out, /permitted subtree violation/);

  // pathLen 0 exceeded: an intermediate under the intermediate.
  const sub = await createIntermediateCa(intermediate, { mesh: "sub" });
  const deep = await issueOddLeaf(sub, { uris: ["spiffe://example.org/deep"] });
  expectReason("path-length-exceeded", () => verifySvidChain({ presented: [deep, sub.certificate, intermediate.certificate], roots, role: "client", now }));
  assert.match(opensslVerify(rootPem, writePem(dir, "ints.pem", [sub.certificate, intermediate.certificate]), [writePem(dir, "deep.pem", [deep])]).out, /path length/i);

  // Missing intermediate: only the leaf is presented.
  expectReason("missing-intermediate", () => verifySvidChain({ presented: [good.leaf], roots, role: "client", now }));

  // Wrong identity.
  expectReason("spiffe-id-mismatch", () => good.verify(roots, { now, role: "client", expectedId: matchId(SpiffeId.parse("spiffe://example.org/ns/a/sa/other")) }));

});
