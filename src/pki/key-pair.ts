// Key generation and key descriptions. CA keys are ECDSA P-384 or RSA-4096; SVID and
// intermediate keys are ECDSA P-256 because signing with it is cheap (the CA hot path).

import { createPublicKey, generateKeyPairSync } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { KeyUnsupportedError } from "../errors.js";

export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-4096";
export const ROOT_KEY_TYPES = ["ec-p384", "rsa-4096"] as const satisfies readonly KeyType[];
export type RootKeyType = (typeof ROOT_KEY_TYPES)[number];

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function generateKeyPair(type: KeyType): KeyPair {
  switch (type) {
    case "ec-p256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" });
    case "ec-p384":
      return generateKeyPairSync("ec", { namedCurve: "P-384" });
    case "rsa-2048":
      return generateKeyPairSync("rsa", { modulusLength: 2048 });
    case "rsa-4096":
      return generateKeyPairSync("rsa", { modulusLength: 4096 });
  }
}

/** "ECDSA P-256", "RSA 4096", ...: for inspect output and error messages. */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      return `ECDSA ${curveName(d.namedCurve)}`;
    case "rsa":
      return `RSA ${d.modulusLength ?? "?"}`;
    case "rsa-pss":
      return `RSA-PSS ${d.modulusLength ?? "?"}`;
    case "ed25519":
      return "Ed25519";
    default:
      return key.asymmetricKeyType ?? "unknown";
  }
}

function curveName(openSslName: string | undefined): string {
  if (openSslName === "prime256v1") return "P-256";
  if (openSslName === "secp384r1") return "P-384";
  if (openSslName === "secp521r1") return "P-521";
  return openSslName ?? "?";
}

/** The hash a CA signs with for its own key, as WebCrypto and node:crypto name it. */
export function signingHashFor(key: KeyObject): "SHA-256" | "SHA-384" {
  if (key.asymmetricKeyType === "ec") {
    const c = key.asymmetricKeyDetails?.namedCurve;
    if (c === "prime256v1") return "SHA-256";
    if (c === "secp384r1") return "SHA-384";
    throw new KeyUnsupportedError(`curve ${String(c)} (use P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === "rsa") {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new KeyUnsupportedError("RSA keys must have at least 2048 bits");
    return "SHA-256";
  }
  throw new KeyUnsupportedError(`key type ${String(key.asymmetricKeyType)} (use ECDSA or RSA)`);
}

/** True when the private key is the partner of the public key (compared as SPKI bytes). */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const a = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  const b = publicKey.export({ type: "spki", format: "der" });
  return a.equals(b);
}
