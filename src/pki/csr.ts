// PKCS#10 certificate signing requests: parse and verify with node:crypto only.
// A verified CSR proves the requester holds the private key; it says nothing about who
// the requester is. The identity to certify always comes from the caller, who has
// authenticated the workload, never from the CSR's subject or SANs.
//
// Parsing is hand-written (a few DER reads) because it sits on the CA hot path; see
// fast-svid-issuer.ts for the measurement.

import { x509 } from "./x509-library.js";
import { createPublicKey, verify as verifySignature, webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { CsrInvalidError, KeyUnsupportedError } from "../errors.js";
import { DerError, children, readWhole } from "./der.js";
import { decodePem } from "./pem.js";

/** PEM text or DER bytes. */
export type CsrInput = string | Uint8Array;

export type LeafKeyType = "ec-p256" | "ec-p384" | "rsa";

export interface VerifiedCsr {
  readonly publicKey: KeyObject;
  /** The exact SubjectPublicKeyInfo bytes from the request, copied into the certificate. */
  readonly spki: Buffer;
  readonly keyType: LeafKeyType;
}

const SIGNATURE_ALGORITHMS: Record<string, { hash: string; key: "ec" | "rsa" }> = {
  "2a8648ce3d040302": { hash: "sha256", key: "ec" },
  "2a8648ce3d040303": { hash: "sha384", key: "ec" },
  "2a8648ce3d040304": { hash: "sha512", key: "ec" },
  "2a864886f70d01010b": { hash: "sha256", key: "rsa" },
  "2a864886f70d01010c": { hash: "sha384", key: "rsa" },
  "2a864886f70d01010d": { hash: "sha512", key: "rsa" },
};

// Fixed SPKI prefixes for uncompressed EC points: AlgorithmIdentifier(id-ecPublicKey,
// curve) + BIT STRING header + 0x04. Matching them byte for byte lets the hot path build
// the key from its coordinates (a JWK import), about twice as fast as a DER import.
const P256_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200" + "04", "hex");
const P384_PREFIX = Buffer.from("3076301006072a8648ce3d020106052b81040022036200" + "04", "hex");

export function csrToDer(input: CsrInput): Uint8Array {
  if (typeof input !== "string") return input;
  const block = decodePem(input).find((b) => b.label === "CERTIFICATE REQUEST" || b.label === "NEW CERTIFICATE REQUEST");
  if (!block) throw new CsrInvalidError("no PEM CERTIFICATE REQUEST block");
  return block.der;
}

export function verifyCsr(input: CsrInput): VerifiedCsr {
  const der = csrToDer(input);
  let cri: Uint8Array, sigAlgOid: string, signature: Uint8Array, spki: Buffer;
  try {
    const outer = readWhole(der);
    const [info, alg, sig] = children(der, outer);
    if (outer.tag !== 0x30 || !info || !alg || !sig || info.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03) {
      throw new DerError("not a CertificationRequest");
    }
    const [version, , keyInfo] = children(der, info);
    if (!version || version.tag !== 0x02 || version.end - version.contentStart !== 1 || der[version.contentStart] !== 0) {
      throw new DerError("version must be 0");
    }
    if (!keyInfo || keyInfo.tag !== 0x30) throw new DerError("missing SubjectPublicKeyInfo");
    const oid = children(der, alg)[0];
    if (!oid || oid.tag !== 0x06) throw new DerError("bad signature algorithm");
    if (der[sig.contentStart] !== 0) throw new DerError("signature has unused bits");
    cri = der.subarray(info.start, info.end);
    sigAlgOid = Buffer.from(der.subarray(oid.contentStart, oid.end)).toString("hex");
    signature = der.subarray(sig.contentStart + 1, sig.end);
    spki = Buffer.from(der.subarray(keyInfo.start, keyInfo.end));
  } catch (e) {
    if (e instanceof DerError) throw new CsrInvalidError(`malformed DER: ${e.message}`);
    throw e;
  }
  const algorithm = SIGNATURE_ALGORITHMS[sigAlgOid];
  if (!algorithm) throw new CsrInvalidError("unsupported signature algorithm (use ECDSA or RSA PKCS#1 v1.5 with SHA-2)");
  const { publicKey, keyType } = importSpki(spki);
  if ((keyType === "rsa") !== (algorithm.key === "rsa")) throw new CsrInvalidError("signature algorithm does not match the key type");
  let ok: boolean;
  try {
    ok = verifySignature(algorithm.hash, cri, publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrInvalidError("signature does not verify (no proof of possession of the private key)");
  return { publicKey, spki, keyType };
}

function importSpki(spki: Buffer): { publicKey: KeyObject; keyType: LeafKeyType } {
  try {
    for (const [prefix, crv, size, keyType] of [
      [P256_PREFIX, "P-256", 32, "ec-p256"],
      [P384_PREFIX, "P-384", 48, "ec-p384"],
    ] as const) {
      if (spki.length === prefix.length + 2 * size && spki.subarray(0, prefix.length).equals(prefix)) {
        const x = spki.subarray(prefix.length, prefix.length + size).toString("base64url");
        const y = spki.subarray(prefix.length + size).toString("base64url");
        // The JWK import checks that the point is on the curve.
        return { publicKey: createPublicKey({ key: { kty: "EC", crv, x, y }, format: "jwk" }), keyType };
      }
    }
    const publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
    if (publicKey.asymmetricKeyType === "rsa" && (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) {
      return { publicKey, keyType: "rsa" };
    }
  } catch {
    throw new CsrInvalidError("the public key cannot be read");
  }
  throw new KeyUnsupportedError("workload keys must be ECDSA P-256, P-384 (uncompressed) or RSA with at least 2048 bits");
}

export interface CsrContents {
  /** Names to put in the request; a CA ignores them, but real clients send them. */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
}

/** Builds a CSR (PEM) for a workload key with @peculiar/x509; not on the CA hot path. */
export async function createCsr(privateKey: KeyObject, contents: CsrContents = {}): Promise<string> {
  const publicKey = createPublicKey(privateKey);
  const ec = privateKey.asymmetricKeyType === "ec";
  const curve = privateKey.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "P-384" : "P-256";
  const algorithm = ec ? { name: "ECDSA", namedCurve: curve } : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), algorithm, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", publicKey.export({ type: "spki", format: "der" }), algorithm, true, ["verify"]),
  };
  const names: x509.JsonGeneralNames = [
    ...(contents.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(contents.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys as unknown as x509.Pkcs10CertificateRequestCreateParams["keys"],
    signingAlgorithm: ec ? { name: "ECDSA", hash: curve === "P-384" ? "SHA-384" : "SHA-256" } : algorithm,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString("pem");
}
