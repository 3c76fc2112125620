import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  FastSvidIssuer,
  SpiffeId,
  TrustDomain,
  createCsr,
  createIntermediateCa,
  createRootCa,
  diagnoseTrust,
  writeCacertsFolder,
  generateKeyPair,
  matchId,
  parseCertificates,
  renderDiagnosis,
} from "../../src/pki/index.js";
import type { CertificateAuthority } from "../../src/pki/index.js";
import { runCli, tempDir } from "./helpers.js";

// Both meshes use the same trust domain name, as two clusters left at "cluster.local" do.
const td = TrustDomain.parse("cluster.local");
const gatewayId = SpiffeId.parse("spiffe://cluster.local/ns/edge/sa/gateway");
const cartId = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart");

async function svidChain(intermediate: CertificateAuthority, id: SpiffeId, withRoot = true): Promise<string> {
  const out = new FastSvidIssuer(intermediate).issueFromCsr(await createCsr(generateKeyPair("ec-p256").privateKey), id);
  return out.chainPem + (withRoot ? intermediate.root.toString() : "");
}

const gatewayRoot = await createRootCa({ trustDomain: td });
const meshRoot = await createRootCa({ trustDomain: td });
const gatewayCa = await createIntermediateCa(gatewayRoot, { mesh: "gateway" });
const meshCa = await createIntermediateCa(meshRoot, { mesh: "mesh" });
const now = new Date();

test("classic case: two self-signed roots -> unknown authority with both roots named; one root -> trusted", async () => {
  const client = parseCertificates(await svidChain(gatewayCa, gatewayId), "gw");
  const server = parseCertificates(await svidChain(meshCa, cartId), "cart");
  const d = diagnoseTrust({ client: { chainSource: "gw.pem", chain: client }, server: { chainSource: "cart.pem", chain: server }, now });
  assert.equal(d.trusted, false);
  for (const dir of d.directions) {
    assert.equal(dir.trusted, false);
    assert.equal(dir.findings[0]!.reason, "unknown-authority");
    assert.match(dir.findings[0]!.message, /certificate signed by unknown authority/);
    assert.ok(dir.findings[0]!.message.includes(gatewayRoot.certificate.fingerprint256));
    assert.ok(dir.findings[0]!.message.includes(meshRoot.certificate.fingerprint256));
    assert.match(dir.findings[0]!.fix, /add root .* to /);
    assert.match(dir.findings[0]!.fix, /reissue the (client|server)'s intermediate .* under root/);
  }

  // Unify: the gateway's intermediate reissued under the mesh root.
  const unifiedGatewayCa = await createIntermediateCa(meshRoot, { mesh: "gateway" });
  const unifiedClient = parseCertificates(await svidChain(unifiedGatewayCa, gatewayId), "gw");
  const ok = diagnoseTrust({
    client: { chainSource: "gw.pem", chain: unifiedClient, expectPeer: matchId(cartId) },
    server: { chainSource: "cart.pem", chain: server, expectPeer: matchId(gatewayId) },
    now,
  });
  assert.equal(ok.trusted, true, renderDiagnosis(ok));
  assert.match(renderDiagnosis(ok), /client->server: TRUSTED[\s\S]*server->client: TRUSTED/);
});

test("doctor names expired certificates, missing intermediates and identity mismatches", async () => {
  const client = parseCertificates(await svidChain(meshCa, gatewayId), "gw");
  const server = parseCertificates(await svidChain(meshCa, cartId), "cart");
  const later = new Date(now.getTime() + 48 * 3600_000);
  const expired = diagnoseTrust({ client: { chainSource: "gw.pem", chain: client }, server: { chainSource: "cart.pem", chain: server }, now: later });
  assert.deepEqual(expired.directions.map((d) => d.findings[0]?.reason), ["expired", "expired"]);
  assert.match(expired.directions[0].findings[0]!.fix, /renew/);

  const leafOnly = [server[0]!];
  const missing = diagnoseTrust({
    client: { chainSource: "gw.pem", chain: client },
    server: { chainSource: "cart-leaf.pem", chain: leafOnly, bundle: [meshRoot.certificate] },
    now,
  });
  assert.equal(missing.directions[0].trusted, true);
  assert.equal(missing.directions[1].findings[0]?.reason, "missing-intermediate");
  assert.match(missing.directions[1].findings[0]!.fix, /chain\.pem/);

  const wrongId = diagnoseTrust({
    client: { chainSource: "gw.pem", chain: client, expectPeer: matchId(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/payments")) },
    server: { chainSource: "cart.pem", chain: server },
    now,
  });
  assert.equal(wrongId.directions[1].findings[0]?.reason, "spiffe-id-mismatch");
});

test("CLI: trust doctor exits 1 with the diagnosis, 0 after unifying, 2 on usage errors", async (t) => {
  const dir = tempDir(t);
  const gw = join(dir, "gw.pem");
  const cart = join(dir, "cart.pem");
  writeFileSync(gw, await svidChain(gatewayCa, gatewayId));
  writeFileSync(cart, await svidChain(meshCa, cartId));
  const bad = runCli(["trust", "doctor", "--client", gw, "--server", cart]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stdout, /client->server: NOT TRUSTED/);
  assert.match(bad.stdout, /server->client: NOT TRUSTED/);
  assert.match(bad.stdout, /certificate signed by unknown authority/);
  assert.ok(bad.stdout.includes(gatewayRoot.certificate.fingerprint256) && bad.stdout.includes(meshRoot.certificate.fingerprint256));
  // Different roots: each direction points at the diagnosis, which names both roots and both fixes.
  assert.match(bad.stdout, /fix: see fix A and fix B below/);
  assert.match(bad.stdout, /^diagnosis: the client and the server chain to different roots, and neither trusts the other's:$/m);
  assert.match(bad.stdout, /^fix A, one root for both:/m);
  assert.match(bad.stdout, /^fix B, keep both roots and trust both:/m);

  // Fix 1: give each side a bundle with both roots.
  const both = join(dir, "both.pem");
  writeFileSync(both, gatewayRoot.certificatePem + meshRoot.certificatePem);
  const bundled = runCli(["trust", "doctor", "--client", gw, "--server", cart, "--client-bundle", both, "--server-bundle", both]);
  assert.equal(bundled.code, 0, bundled.stdout);

  // Fix 2: one root.
  writeFileSync(gw, await svidChain(await createIntermediateCa(meshRoot, { mesh: "gateway" }), gatewayId));
  const good = runCli(["trust", "doctor", "--client", gw, "--server", cart, "--server-id", cartId.toString()]);
  assert.equal(good.code, 0, good.stdout);
  assert.match(good.stdout, /mutual TLS would succeed in both directions/);

  assert.equal(runCli(["trust", "doctor", "--client", gw]).code, 2);
  assert.equal(runCli(["trust", "doctor", "--client", join(dir, "nope.pem"), "--server", cart]).code, 2);
  assert.ok(readFileSync(gw, "utf8").length > 0);
});

test("different roots: the diagnosis says which root each side lacks, by mesh, and only the direction that fails", async () => {
  const client = parseCertificates(await svidChain(gatewayCa, gatewayId), "gw");
  const server = parseCertificates(await svidChain(meshCa, cartId), "cart");
  const both = diagnoseTrust({ client: { chainSource: "gw.pem", chain: client }, server: { chainSource: "cart.pem", chain: server }, now });
  assert.deepEqual(
    both.missingRoots.map((m) => [m.verifier, m.mesh, m.rootSource, m.root.fingerprint256]),
    [
      ["server", "gateway", "gw.pem", gatewayRoot.certificate.fingerprint256],
      ["client", "mesh", "cart.pem", meshRoot.certificate.fingerprint256],
    ],
  );
  // The server already trusts both roots: only the client lacks one, and the text says so.
  const one = diagnoseTrust({
    client: { chainSource: "gw.pem", chain: client },
    server: { chainSource: "cart.pem", chain: server, bundle: [meshRoot.certificate, gatewayRoot.certificate], bundleSource: "both.pem" },
    now,
  });
  assert.deepEqual(one.missingRoots.map((m) => m.verifier), ["client"]);
  const text = renderDiagnosis(one);
  assert.match(text, /^diagnosis: the client and the server chain to different roots, and the client does not trust the server's:$/m);
  assert.match(text, /^ {2}the client lacks the server's root "O=meshgate, CN=cluster\.local root CA" \(sha256 [0-9A-F:]+\), of Mesh mesh; it verifies with the client's trust store \(the root in gw\.pem\)$/m);
  assert.match(text, /^ {2}the client trusts the server's root \(Mesh mesh\): meshgate trust bundle --from cart\.pem --format configmap --name mesh-root > mesh-root\.yaml$/m);
  assert.match(text, /BackendTLSPolicy on the server's Service names that ConfigMap in validation\.caCertificateRefs/);
  assert.doesNotMatch(text, /the server lacks/);
});

test("CLI: a side given as a CA folder stands for every SVID that CA issues (meshgate up's state directory)", async (t) => {
  const dir = tempDir(t);
  writeCacertsFolder(join(dir, "meshes/gateway"), gatewayCa);
  writeCacertsFolder(join(dir, "meshes/mesh"), meshCa);
  const gw = join(dir, "meshes/gateway");
  const mesh = join(dir, "meshes/mesh");
  const bad = runCli(["trust", "doctor", "--client", gw, "--server", mesh]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.ok(bad.stdout.includes(`the client presents SVIDs issued by the CA in ${gw}; the server verifies them with the server's trust store (the root in ${mesh})`), bad.stdout);
  assert.doesNotMatch(bad.stdout, /ca-as-leaf|not-an-svid|wrong-eku/, "no leaf checks on a CA");
  assert.ok(bad.stdout.includes(`the server lacks the client's root "O=meshgate, CN=cluster.local root CA" (sha256 ${gatewayRoot.certificate.fingerprint256}), of Mesh gateway`), bad.stdout);
  assert.ok(bad.stdout.includes(`the server trusts the client's root (Mesh gateway): meshgate trust bundle --from ${gw} --format configmap --name gateway-root > gateway-root.yaml`), bad.stdout);

  // Fix B: each side's bundle holds both roots (the files `meshgate trust bundle` writes).
  const both = join(dir, "both.pem");
  writeFileSync(both, gatewayRoot.certificatePem + meshRoot.certificatePem);
  const trusted = runCli(["trust", "doctor", "--client", gw, "--client-bundle", both, "--server", mesh, "--server-bundle", both]);
  assert.equal(trusted.code, 0, trusted.stdout);
  assert.doesNotMatch(trusted.stdout, /diagnosis/);

  // Fix A: both intermediates from one root.
  writeCacertsFolder(join(dir, "one/gateway"), await createIntermediateCa(meshRoot, { mesh: "gateway" }));
  const unified = runCli(["trust", "doctor", "--client", join(dir, "one/gateway"), "--server", mesh]);
  assert.equal(unified.code, 0, unified.stdout);

  // A folder that holds no CA certificates is a usage error.
  const empty = join(dir, "empty");
  mkdirSync(empty);
  const none = runCli(["trust", "doctor", "--client", empty, "--server", mesh]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /is not a CA folder/);
});

test("a side given as its CA: its intermediate is what to reissue; the certificate given as the CA must be one", async () => {
  const asCa = diagnoseTrust({ client: { chainSource: "ca/gateway", chain: [...gatewayCa.chain], presentsCa: true }, server: { chainSource: "ca/mesh", chain: [...meshCa.chain], presentsCa: true }, now });
  assert.equal(asCa.directions[0].findings[0]?.reason, "unknown-authority");
  assert.match(asCa.directions[0].findings[0]!.fix, /or reissue the client's intermediate "O=meshgate, OU=gateway, CN=gateway intermediate CA" \(sha256 [0-9A-F:]+\) under root/);
  const leaf = parseCertificates(await svidChain(meshCa, cartId), "cart");
  const d = diagnoseTrust({ client: { chainSource: "leaf-as-ca", chain: leaf, presentsCa: true }, server: { chainSource: "cart.pem", chain: leaf }, now });
  assert.equal(d.directions[0].findings[0]?.reason, "not-a-ca");
});
