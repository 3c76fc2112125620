// The X.509 facts that trust decisions need but Node's X509Certificate does not expose
// (pathLen, key usage bits, name constraints, key identifiers), read once per certificate
// with @peculiar/x509 and cached.

import { AsnConvert } from "@peculiar/asn1-schema";
import { NameConstraints } from "@peculiar/asn1-x509";
import { x509 } from "./x509-library.js";
import type { X509Certificate } from "node:crypto";

export const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const OID_NAME_CONSTRAINTS = "2.5.29.30";

export type KeyUsageName =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly";

const KEY_USAGE_BITS: readonly [KeyUsageName, number][] = [
  ["digitalSignature", x509.KeyUsageFlags.digitalSignature],
  ["nonRepudiation", x509.KeyUsageFlags.nonRepudiation],
  ["keyEncipherment", x509.KeyUsageFlags.keyEncipherment],
  ["dataEncipherment", x509.KeyUsageFlags.dataEncipherment],
  ["keyAgreement", x509.KeyUsageFlags.keyAgreement],
  ["keyCertSign", x509.KeyUsageFlags.keyCertSign],
  ["cRLSign", x509.KeyUsageFlags.cRLSign],
  ["encipherOnly", x509.KeyUsageFlags.encipherOnly],
  ["decipherOnly", x509.KeyUsageFlags.decipherOnly],
];

export interface NameConstraintFacts {
  readonly permittedUris: readonly string[];
  readonly excludedUris: readonly string[];
  readonly permittedDns: readonly string[];
  readonly excludedDns: readonly string[];
}

export interface CertificateFacts {
  /** undefined when the certificate has no basicConstraints extension. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** undefined when there is no keyUsage extension (then every usage is allowed). */
  readonly keyUsage: readonly KeyUsageName[] | undefined;
  /** undefined when there is no extendedKeyUsage extension (then any purpose is allowed). */
  readonly extendedKeyUsage: readonly string[] | undefined;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly nameConstraints: NameConstraintFacts | undefined;
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
}

const cache = new WeakMap<X509Certificate, CertificateFacts>();

export function certificateFacts(cert: X509Certificate): CertificateFacts {
  const hit = cache.get(cert);
  if (hit) return hit;
  const parsed = new x509.X509Certificate(cert.raw);
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  const eku = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = parsed.getExtension(x509.AuthorityKeyIdentifierExtension);
  const nc = parsed.extensions.find((e) => e.type === OID_NAME_CONSTRAINTS);
  const names = san?.names.items ?? [];
  const facts: CertificateFacts = {
    basicConstraints: bc ? { ca: bc.ca, pathLen: bc.pathLength } : undefined,
    keyUsage: ku ? KEY_USAGE_BITS.filter(([, bit]) => (ku.usages & bit) !== 0).map(([name]) => name) : undefined,
    extendedKeyUsage: eku ? Array.from(eku.usages, String) : undefined,
    uris: Array.from(names).filter((n) => n.type === "url").map((n) => n.value),
    dnsNames: Array.from(names).filter((n) => n.type === "dns").map((n) => n.value),
    nameConstraints: nc ? readNameConstraints(nc.value) : undefined,
    subjectKeyId: ski?.keyId,
    authorityKeyId: aki?.keyId,
  };
  cache.set(cert, facts);
  return facts;
}

function readNameConstraints(der: ArrayBuffer): NameConstraintFacts {
  const nc = AsnConvert.parse(der, NameConstraints);
  const pick = (subtrees: NameConstraints["permittedSubtrees"], kind: "uniformResourceIdentifier" | "dNSName"): string[] =>
    Array.from(subtrees ?? [], (s) => s.base[kind]).filter((v): v is string => typeof v === "string");
  return {
    permittedUris: pick(nc.permittedSubtrees, "uniformResourceIdentifier"),
    excludedUris: pick(nc.excludedSubtrees, "uniformResourceIdentifier"),
    permittedDns: pick(nc.permittedSubtrees, "dNSName"),
    excludedDns: pick(nc.excludedSubtrees, "dNSName"),
  };
}

/** Host of a URI for RFC 5280 URI name constraints ("spiffe://td/..." -> "td"). */
export function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^:/?#]*)/i.exec(uri);
  return m?.[1]?.toLowerCase();
}

/** RFC 5280 4.2.1.10: ".example.com" matches subdomains, "example.com" only that host. */
export function hostMatchesConstraint(host: string, constraint: string): boolean {
  const c = constraint.toLowerCase();
  return c.startsWith(".") ? host.endsWith(c) : host === c;
}

export function dnsMatchesConstraint(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  const c = constraint.toLowerCase().replace(/^\./, "");
  return c === "" || n === c || n.endsWith(`.${c}`);
}
