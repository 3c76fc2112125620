import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { BundleSourceError } from "../../src/errors.js";
import { TrustBundle, TrustDomain, createIntermediateCa, createRootCa, loadTrustBundle, writeCacertsFolder } from "../../src/pki/index.js";
import { tempDir } from "./helpers.js";

const td = TrustDomain.parse("mesh.example");
const root = await createRootCa({ trustDomain: td });
const intermediate = await createIntermediateCa(root, { mesh: "east" });

test("roots come out of a chain PEM, a cacerts folder, a cacerts Secret and an istio-ca-root-cert ConfigMap", (t) => {
  const dir = tempDir(t);
  const chain = join(dir, "chain.pem");
  writeFileSync(chain, intermediate.chainPem);
  const cacerts = join(dir, "cacerts");
  writeCacertsFolder(cacerts, intermediate);
  const secret = join(dir, "secret.yaml");
  writeFileSync(
    secret,
    `apiVersion: v1\nkind: Secret\nmetadata: {name: cacerts, namespace: istio-system}\ntype: Opaque\ndata:\n` +
      `  ca-cert.pem: ${Buffer.from(intermediate.certificatePem).toString("base64")}\n` +
      `  ca-key.pem: ${Buffer.from("not used").toString("base64")}\n` +
      `  cert-chain.pem: ${Buffer.from(intermediate.chainPem).toString("base64")}\n` +
      `  root-cert.pem: ${Buffer.from(root.certificatePem).toString("base64")}\n`,
  );
  const configMap = join(dir, "cm.yaml");
  writeFileSync(configMap, `---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-ca-root-cert, namespace: default}\ndata:\n  root-cert.pem: |\n${root.certificatePem.replace(/^/gm, "    ").trimEnd()}\n`);
  for (const source of [chain, cacerts, secret, configMap]) {
    const bundle = loadTrustBundle(source);
    assert.deepEqual(bundle.roots.map((r) => r.fingerprint256), [root.certificate.fingerprint256], source);
    assert.equal(bundle.trustDomain?.name, "mesh.example");
  }
  const leafOnly = join(dir, "int.pem");
  writeFileSync(leafOnly, intermediate.certificatePem);
  assert.throws(() => loadTrustBundle(leafOnly), BundleSourceError);
});

test("formats: PEM, SPIFFE bundle (JWKS with x5c), ConfigMap with ca.crt", () => {
  const other = intermediate.root; // same root twice is deduplicated
  const bundle = new TrustBundle([root.certificate, other], td, 7, 600);
  assert.equal(bundle.roots.length, 1);
  assert.equal(bundle.toPem(), root.certificatePem);

  const spiffe = JSON.parse(bundle.render("spiffe")) as { keys: Array<Record<string, unknown>>; spiffe_sequence: number; spiffe_refresh_hint: number };
  assert.equal(spiffe.spiffe_sequence, 7);
  assert.equal(spiffe.spiffe_refresh_hint, 600);
  const key = spiffe.keys[0]!;
  assert.equal(key.use, "x509-svid");
  assert.equal(key.kty, "EC");
  assert.equal(key.crv, "P-384");
  const x5c = new X509Certificate(Buffer.from((key.x5c as string[])[0]!, "base64"));
  assert.equal(x5c.fingerprint256, root.certificate.fingerprint256);
  // The JWK is the certificate's public key.
  const jwk = createPublicKey({ key: key as never, format: "jwk" });
  assert.ok(jwk.equals(root.certificate.publicKey));
  assert.equal("d" in key, false);

  const cm = parse(bundle.render("configmap", { name: "mesh-ca", namespace: "gateway" })) as { kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> };
  assert.equal(cm.kind, "ConfigMap");
  assert.deepEqual(cm.metadata, { name: "mesh-ca", namespace: "gateway" });
  assert.equal(cm.data["ca.crt"], root.certificatePem);
});

test("bundles grow and shrink with a new sequence number", async () => {
  const next = await createRootCa({ trustDomain: td });
  const b1 = new TrustBundle([root.certificate], td);
  const b2 = b1.withRoot(next.certificate);
  const b3 = b2.withoutRoot(root.certificate);
  assert.deepEqual([b1.sequence, b2.sequence, b3.sequence], [1, 2, 3]);
  assert.equal(b2.roots.length, 2);
  assert.ok(b3.contains(next.certificate) && !b3.contains(root.certificate));
});
