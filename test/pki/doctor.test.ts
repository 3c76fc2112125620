import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  FastSvidIssuer,
  SpiffeId,
  TrustDomain,
  createCsr,
  createIntermediateCa,
  createRootCa,
  diagnoseTrust,
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
  assert.match(bad.stdout, /fix: add root/);

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
