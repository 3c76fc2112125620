import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CsrInvalidError, IdOutsideTrustDomainError } from "../../src/errors.js";
import {
  FastSvidIssuer,
  SpiffeId,
  TrustDomain,
  certificateFacts,
  createCsr,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  issueWorkloadSvid,
} from "../../src/pki/index.js";
import { openssl, opensslVerify, tempDir, writePem } from "./helpers.js";

const td = TrustDomain.parse("example.org");

test("fast path: many random CSRs, every certificate verified by openssl -x509_strict and node", async (t) => {
  const dir = tempDir(t);
  const root = await createRootCa({ trustDomain: td });
  const intermediate = await createIntermediateCa(root, { mesh: "east" });
  const issuer = new FastSvidIssuer(intermediate);
  const leaves: string[] = [];
  for (let i = 0; i < 60; i++) {
    const keyType = i % 10 === 9 ? "ec-p384" : "ec-p256";
    const csr = await createCsr(generateKeyPair(keyType).privateKey);
    const id = SpiffeId.forServiceAccount(td, `ns-${i}`, `sa-${Math.random().toString(36).slice(2)}`);
    const dnsNames = i % 3 === 0 ? [`svc-${i}.example.org`, "*.gw.example.org"] : [];
    // DER in on even rounds, PEM in on odd ones.
    const input = i % 2 === 0 ? Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ""), "base64") : csr;
    const out = issuer.issueFromCsr(input, id, { dnsNames, ttlMs: 3600_000 * (1 + (i % 48)) });
    const cert = new X509Certificate(out.der);
    assert.ok(cert.verify(intermediate.certificate.publicKey), `node verify #${i}`);
    assert.ok(cert.checkIssued(intermediate.certificate));
    assert.equal(cert.subjectAltName, [`URI:${id.toString()}`, ...dnsNames.map((d) => `DNS:${d}`)].join(", "));
    assert.equal(out.chainPem, out.certificatePem + intermediate.certificatePem);
    assert.equal(out.notAfter.getTime(), Date.parse(cert.validTo), "notAfter reports the encoded time (whole seconds)");
    const path = join(dir, `leaf-${i}.pem`);
    writeFileSync(path, out.certificatePem);
    leaves.push(path);
  }
  const r = opensslVerify(writePem(dir, "root.pem", [root.certificate]), writePem(dir, "int.pem", [intermediate.certificate]), leaves);
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out.trim().split("\n").filter((l) => l.endsWith(": OK")).length, 60);
  // openssl parses the DER the same way we wrote it (no re-encoding differences).
  const text = await openssl(["x509", "-in", leaves[0]!, "-noout", "-text"]);
  assert.match(text, /X509v3 Subject Alternative Name: critical/);
  assert.match(text, /CA:FALSE/);
});

test("fast path and library path produce the same certificate profile", async () => {
  const root = await createRootCa({ trustDomain: td });
  const intermediate = await createIntermediateCa(root, { mesh: "east" });
  const key = generateKeyPair("ec-p256").privateKey;
  const id = SpiffeId.forServiceAccount(td, "default", "web");
  const now = () => new Date("2031-05-05T12:00:00Z");
  const fast = new X509Certificate(new FastSvidIssuer(intermediate, now).issueFromCsr(await createCsr(key), id, { dnsNames: ["web.local"] }).der);
  const lib = (await issueWorkloadSvid(intermediate, createPublicKey(key), { spiffeId: id, dnsNames: ["web.local"], now })).certificate;
  assert.deepEqual(certificateFacts(fast), certificateFacts(lib));
  assert.equal(fast.validFrom, lib.validFrom);
  assert.equal(fast.validTo, lib.validTo);
  assert.equal(fast.issuer, lib.issuer);
  assert.equal(fast.subject, lib.subject);
  assert.notEqual(fast.serialNumber, lib.serialNumber);
});

test("fast path refuses foreign IDs, tampered CSRs and unsupported keys; RSA CAs work too", async (t) => {
  const root = await createRootCa({ trustDomain: td });
  const intermediate = await createIntermediateCa(root, { mesh: "east" });
  const issuer = new FastSvidIssuer(intermediate);
  const csr = await createCsr(generateKeyPair("ec-p256").privateKey);
  assert.throws(() => issuer.issueFromCsr(csr, SpiffeId.parse("spiffe://evil.org/x")), IdOutsideTrustDomainError);
  const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[40] = der[40]! ^ 0x01; // inside the public key: the signature no longer matches
  assert.throws(() => issuer.issueFromCsr(der, SpiffeId.parse("spiffe://example.org/x")), CsrInvalidError);
  assert.throws(() => issuer.issueFromCsr("not a csr", SpiffeId.parse("spiffe://example.org/x")), CsrInvalidError);
  const tiny = await createCsr(generateKeyPair("rsa-2048").privateKey);
  issuer.issueFromCsr(tiny, SpiffeId.parse("spiffe://example.org/rsa-ok"));

  const dir = tempDir(t);
  const rsaIntermediate = await createIntermediateCa(root, { mesh: "rsa", keyType: "rsa-2048" });
  const out = new FastSvidIssuer(rsaIntermediate).issueFromCsr(csr, SpiffeId.parse("spiffe://example.org/x"));
  writeFileSync(join(dir, "leaf.pem"), out.certificatePem);
  const r = opensslVerify(writePem(dir, "root.pem", [root.certificate]), writePem(dir, "int.pem", [rsaIntermediate.certificate]), [join(dir, "leaf.pem")]);
  assert.equal(r.code, 0, r.out);
});
