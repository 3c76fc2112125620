// Subject/authority key identifiers: SHA-1 of the subjectPublicKey bits (RFC 5280
// 4.2.1.2, method 1), the same value OpenSSL computes. An AKI must equal its issuer's
// SKI byte for byte or chain building fails, so issuers always reuse the SKI found in
// the CA certificate and compute one only when a (foreign) CA has none.

import { createHash } from "node:crypto";
import type { KeyObject, X509Certificate } from "node:crypto";
import { certificateFacts } from "./certificate-facts.js";
import { children, readWhole } from "./der.js";

export function keyIdentifierFromSpki(spki: Uint8Array): Buffer {
  const seq = readWhole(spki);
  const bits = children(spki, seq)[1];
  if (bits === undefined || bits.tag !== 0x03) throw new Error("not a SubjectPublicKeyInfo");
  return createHash("sha1").update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
}

export function keyIdentifier(publicKey: KeyObject): Buffer {
  return keyIdentifierFromSpki(publicKey.export({ type: "spki", format: "der" }));
}

/** The key identifier children of this CA must carry in their AKI. */
export function authorityKeyIdFor(ca: X509Certificate): Buffer {
  const ski = certificateFacts(ca).subjectKeyId;
  return ski !== undefined ? Buffer.from(ski, "hex") : keyIdentifier(ca.publicKey);
}
