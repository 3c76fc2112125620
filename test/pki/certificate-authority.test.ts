import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey, webcrypto } from "node:crypto";
import * as pkijs from "pkijs";
import { CsrInvalidError, IdOutsideTrustDomainError } from "../../src/errors.js";
import {
  SpiffeId,
  TrustDomain,
  certificateFacts,
  createCsr,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  issueWorkloadSvid,
  issueWorkloadSvidFromCsr,
} from "../../src/pki/index.js";
import { opensslVerify, tempDir, writePem } from "./helpers.js";

const td = TrustDomain.parse("example.org");
const web = SpiffeId.forServiceAccount(td, "default", "web");

/** pkijs as a second, independent chain validator. */
async function pkijsVerifies(root: X509Certificate, intermediate: X509Certificate, leaf: X509Certificate): Promise<boolean> {
  pkijs.setEngine("node", new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as never }));
  const parse = (c: X509Certificate) => pkijs.Certificate.fromBER(new Uint8Array(c.raw));
  const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: [parse(root)], certs: [parse(leaf), parse(intermediate)] });
  return (await engine.verify()).result;
}

for (const keyType of ["ec-p384", "rsa-4096"] as const) {
  test(`root (${keyType}) -> intermediate -> SVID verifies with openssl -x509_strict and pkijs`, async (t) => {
    const dir = tempDir(t);
    const root = await createRootCa({ trustDomain: td, keyType });
    const intermediate = await createIntermediateCa(root, { mesh: "east" });
    const svid = await issueWorkloadSvid(intermediate, createPublicKey(generateKeyPair("ec-p256").privateKey), { spiffeId: web, dnsNames: ["web.example.org"] });
    const r = opensslVerify(writePem(dir, "root.pem", [root.certificate]), writePem(dir, "int.pem", [intermediate.certificate]), [writePem(dir, "leaf.pem", [svid.certificate])]);
    assert.equal(r.code, 0, r.out);
    assert.ok(await pkijsVerifies(root.certificate, intermediate.certificate, svid.certificate));
    assert.match(root.certificate.publicKey.asymmetricKeyType ?? "", keyType === "rsa-4096" ? /^rsa$/ : /^ec$/);
  });
}

test("certificate profiles: root 10y CA, intermediate pathLen 0 + name constraint, SVID leaf 24h", async () => {
  const now = new Date("2030-01-01T00:00:00Z");
  const root = await createRootCa({ trustDomain: td, now: () => now });
  const intermediate = await createIntermediateCa(root, { mesh: "east", now: () => now });
  const svid = await issueWorkloadSvid(intermediate, createPublicKey(generateKeyPair("ec-p256").privateKey), { spiffeId: web, now: () => now });

  const r = certificateFacts(root.certificate);
  assert.deepEqual(r.basicConstraints, { ca: true, pathLen: undefined });
  assert.deepEqual(r.keyUsage, ["keyCertSign", "cRLSign"]);
  assert.equal(new Date(root.certificate.validTo).getUTCFullYear(), 2039);

  const i = certificateFacts(intermediate.certificate);
  assert.deepEqual(i.basicConstraints, { ca: true, pathLen: 0 });
  assert.deepEqual(i.keyUsage, ["keyCertSign", "cRLSign"]);
  assert.deepEqual(i.nameConstraints?.permittedUris, ["example.org"]);
  assert.equal(i.authorityKeyId, r.subjectKeyId);

  const l = certificateFacts(svid.certificate);
  assert.deepEqual(l.basicConstraints, { ca: false, pathLen: undefined });
  assert.deepEqual(l.keyUsage, ["digitalSignature"]);
  assert.deepEqual(l.extendedKeyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  assert.deepEqual(l.uris, [web.toString()]);
  assert.equal(l.authorityKeyId, i.subjectKeyId);
  assert.ok(l.subjectKeyId);
  assert.equal(Date.parse(svid.certificate.validTo) - now.getTime(), 24 * 3600_000);
  assert.equal(svid.certificate.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  // 16-byte positive serial (top bit clear).
  assert.equal(svid.certificate.serialNumber.length, 32);
  assert.ok(parseInt(svid.certificate.serialNumber.slice(0, 2), 16) < 0x80);
});

test("from a CSR: the identity comes from the caller, never from the CSR's SANs", async () => {
  const root = await createRootCa({ trustDomain: td });
  const intermediate = await createIntermediateCa(root, { mesh: "east" });
  const csr = await createCsr(generateKeyPair("ec-p256").privateKey, { uris: ["spiffe://example.org/ns/kube-system/sa/admin"], dnsNames: ["evil.example"] });
  const svid = await issueWorkloadSvidFromCsr(intermediate, csr, { spiffeId: web });
  assert.equal(svid.certificate.subjectAltName, `URI:${web.toString()}`);
});

test("refuses IDs outside the CA's trust domain and CSRs with a bad signature", async () => {
  const root = await createRootCa({ trustDomain: td });
  const intermediate = await createIntermediateCa(root, { mesh: "east" });
  const key = createPublicKey(generateKeyPair("ec-p256").privateKey);
  await assert.rejects(
    issueWorkloadSvid(intermediate, key, { spiffeId: SpiffeId.parse("spiffe://other.org/ns/default/sa/web") }),
    (e: unknown) => e instanceof IdOutsideTrustDomainError && e.code === "ERR_PKI_ID_OUTSIDE_TRUST_DOMAIN",
  );
  const csr = await createCsr(generateKeyPair("ec-p256").privateKey);
  const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[der.length - 5] = der[der.length - 5]! ^ 0x01; // flip a bit inside the signature
  await assert.rejects(issueWorkloadSvidFromCsr(intermediate, der, { spiffeId: web }), (e: unknown) => e instanceof CsrInvalidError && /signature/.test(e.message));
  await assert.rejects(issueWorkloadSvidFromCsr(intermediate, Buffer.from("3003020100", "hex"), { spiffeId: web }), CsrInvalidError);
});
