// The certificates a proxy holds, as public facts: new ones are reported once when they
// come into force (a renewed SVID), unchanged ones are not, and key material never shows.

import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { CertificatesInForce, certificateFacts } from "../../src/proxy/certificates-in-force.js";
import { createIntermediateCa, createRootCa, FastSvidIssuer, generateKeyPair, privateKeyToPem, SpiffeId, TrustDomain } from "../../src/pki/index.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../src/xds/envoy-protos.js";

const td = TrustDomain.parse("shop.local");
const root = await createRootCa({ trustDomain: td });
const issuer = new FastSvidIssuer(await createIntermediateCa(root, { mesh: "shop" }));
const ID = "spiffe://shop.local/ns/shop/sa/cart";

/** An SDS secret as the xDS client hands it over (encoded, then decoded). */
function svidSecret(name = "default", bytes = false) {
  const key = generateKeyPair("ec-p256");
  const issued = issuer.issueForKey(key.publicKey, SpiffeId.parse(ID), { ttlMs: 60_000, dnsNames: ["cart.shop"] });
  const chain = bytes ? { inlineBytes: Buffer.from(issued.chainPem).toString("base64") } : { inlineString: issued.chainPem };
  const json = { name, tlsCertificate: { certificateChain: chain, privateKey: { inlineString: privateKeyToPem(key.privateKey) } } };
  return { resource: decodeResource(TYPE_URLS.secret, encodeResource(TYPE_URLS.secret, json)), cert: new X509Certificate(issued.certificatePem) };
}

const rootca = decodeResource(TYPE_URLS.secret, encodeResource(TYPE_URLS.secret, { name: "ROOTCA", validationContext: { trustedCa: { inlineString: root.certificatePem } } }));

test("facts of a certificate secret: serial, SPIFFE ID, DNS names, validity; inline bytes too; none for a validation context", () => {
  const { resource, cert } = svidSecret();
  assert.deepEqual(certificateFacts("default", resource), {
    secret: "default",
    serial: cert.serialNumber,
    spiffeId: ID,
    dnsNames: ["cart.shop"],
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  });
  const asBytes = svidSecret("default", true);
  assert.equal(certificateFacts("default", asBytes.resource)?.serial, asBytes.cert.serialNumber);
  assert.equal(certificateFacts("ROOTCA", rootca), undefined);
  assert.ok(!JSON.stringify(certificateFacts("default", resource)).includes("PRIVATE KEY"));
});

test("update reports a certificate when it comes into force, once; a renewal is reported; list shows what is held", () => {
  const inForce = new CertificatesInForce();
  const first = svidSecret();
  const fresh = inForce.update(new Map([["default", first.resource], ["ROOTCA", rootca]]));
  assert.deepEqual(fresh.map((f) => f.serial), [first.cert.serialNumber]);
  assert.deepEqual(inForce.update(new Map([["ROOTCA", rootca], ["default", first.resource]])), [], "the same objects: nothing new");
  const renewed = svidSecret();
  assert.deepEqual(inForce.update(new Map([["default", renewed.resource], ["ROOTCA", rootca]])).map((f) => f.serial), [renewed.cert.serialNumber]);
  assert.deepEqual(inForce.list().map((f) => [f.secret, f.serial]), [["default", renewed.cert.serialNumber]]);
  assert.deepEqual(inForce.update(new Map([["ROOTCA", rootca]])), []);
  assert.deepEqual(inForce.list(), [], "a secret no longer held is no longer listed");
});
