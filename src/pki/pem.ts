// PEM text <-> DER bytes for certificates, requests and keys, and reading certificate
// files into Node's X509Certificate (the verifier this project trusts).

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { PemInvalidError } from "../errors.js";

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function decodePem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    out.push({ label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ""), "base64") });
  }
  return out;
}

export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** Every CERTIFICATE block in a PEM text, parsed. `where` names the source in errors. */
export function parseCertificates(text: string, where: string): X509Certificate[] {
  const blocks = decodePem(text).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) throw new PemInvalidError(where, "no PEM certificate found");
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b.der);
    } catch (e) {
      throw new PemInvalidError(where, `certificate #${i + 1} cannot be parsed: ${(e as Error).message}`);
    }
  });
}

export function readCertificates(path: string): X509Certificate[] {
  return parseCertificates(readFileSync(path, "utf8"), path);
}

export function certificatesToPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => encodePem("CERTIFICATE", c.raw)).join("");
}

/** True when a certificate names itself as issuer and its own key verifies its signature. */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.checkIssued(cert) && cert.verify(cert.publicKey);
}
