// The certificates a proxy holds from SDS, as public facts (never key material): what an
// operator checks after a renewal ("is the new SVID in force, until when?"), logged when a
// certificate secret changes and listed in config_dump, as Envoy's /certs admin page does.
// Work happens only when a secret's resource object changes (the xDS client keeps the
// object of an unchanged secret), so renewals, not requests, pay for it.

import { X509Certificate } from "node:crypto";
import type { EnvoyResource } from "./contracts.js";
import { splitSubjectAltName } from "./listeners/tls-contexts.js";

export interface CertificateFacts {
  /** The SDS secret name (`default` for a proxy's SVID). */
  readonly secret: string;
  /** Hex, as Node prints it. */
  readonly serial: string;
  readonly spiffeId?: string;
  readonly dnsNames?: readonly string[];
  /** ISO 8601. */
  readonly notBefore: string;
  readonly notAfter: string;
}

/** The leaf of a TLS certificate secret whose chain is inline; undefined for other secrets (validation contexts, files). */
export function certificateFacts(name: string, secret: EnvoyResource): CertificateFacts | undefined {
  const chain = (secret.tlsCertificate as EnvoyResource | undefined)?.certificateChain as { inlineString?: unknown; inlineBytes?: unknown } | undefined;
  const bytes = chain?.inlineBytes;
  const pem = typeof chain?.inlineString === "string" ? chain.inlineString : bytes instanceof Uint8Array ? Buffer.from(bytes).toString("utf8") : typeof bytes === "string" ? Buffer.from(bytes, "base64").toString("utf8") : undefined;
  if (pem === undefined) return undefined;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pem);
  } catch {
    return undefined; // the listener and cluster code refuses it, naming the secret
  }
  const sans = leaf.subjectAltName ? splitSubjectAltName(leaf.subjectAltName) : [];
  const spiffeId = sans.find((s) => s.startsWith("URI:spiffe://"))?.slice(4);
  const dnsNames = sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4));
  return {
    secret: name,
    serial: leaf.serialNumber,
    ...(spiffeId !== undefined ? { spiffeId } : {}),
    ...(dnsNames.length > 0 ? { dnsNames } : {}),
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

export class CertificatesInForce {
  #facts = new Map<string, { readonly resource: EnvoyResource; readonly facts: CertificateFacts | undefined }>();

  /** Takes the secrets of a configuration just put in force; returns the certificates that are new in it. */
  update(secrets: ReadonlyMap<string, EnvoyResource>): CertificateFacts[] {
    const next = new Map<string, { readonly resource: EnvoyResource; readonly facts: CertificateFacts | undefined }>();
    const fresh: CertificateFacts[] = [];
    for (const [name, resource] of secrets) {
      const known = this.#facts.get(name);
      if (known && known.resource === resource) {
        next.set(name, known);
        continue;
      }
      const facts = certificateFacts(name, resource);
      next.set(name, { resource, facts });
      if (facts && facts.serial !== known?.facts?.serial) fresh.push(facts);
    }
    this.#facts = next;
    return fresh;
  }

  list(): CertificateFacts[] {
    return [...this.#facts.values()].flatMap((e) => (e.facts ? [e.facts] : [])).sort((a, b) => a.secret.localeCompare(b.secret));
  }
}
