// `meshgate pki inspect`: a readable view of each certificate in a PEM file. Only
// certificates are shown; if the file also holds a private key it is never printed.

import type { X509Certificate } from "node:crypto";
import { certificateFacts } from "./certificate-facts.js";
import { subjectText } from "./certificate-names.js";
import { describeKey } from "./key-pair.js";

export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly notBefore: string;
  readonly notAfter: string;
  readonly status: string;
  readonly keyType: string;
  readonly sha256Fingerprint: string;
  readonly ca: boolean;
  readonly pathLen: number | undefined;
  readonly keyUsage: readonly string[] | undefined;
  readonly extendedKeyUsage: readonly string[] | undefined;
  readonly nameConstraints: { permitted: string[]; excluded: string[] } | undefined;
  readonly selfSigned: boolean;
}

export function summarizeCertificate(cert: X509Certificate, now: Date): CertificateSummary {
  const f = certificateFacts(cert);
  const nc = f.nameConstraints;
  return {
    subject: subjectText(cert) || "(empty)",
    issuer: (cert.issuer ?? "").split("\n").filter(Boolean).join(", "),
    serial: cert.serialNumber,
    uris: f.uris,
    dnsNames: f.dnsNames,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    status: validityStatus(cert, now),
    keyType: describeKey(cert.publicKey),
    sha256Fingerprint: cert.fingerprint256,
    ca: f.basicConstraints?.ca === true,
    pathLen: f.basicConstraints?.pathLen,
    keyUsage: f.keyUsage,
    extendedKeyUsage: f.extendedKeyUsage?.map((o) => (o === "1.3.6.1.5.5.7.3.1" ? "serverAuth" : o === "1.3.6.1.5.5.7.3.2" ? "clientAuth" : o)),
    nameConstraints: nc && {
      permitted: [...nc.permittedUris.map((u) => `URI:${u}`), ...nc.permittedDns.map((d) => `DNS:${d}`)],
      excluded: [...nc.excludedUris.map((u) => `URI:${u}`), ...nc.excludedDns.map((d) => `DNS:${d}`)],
    },
    selfSigned: cert.subject === cert.issuer && cert.verify(cert.publicKey),
  };
}

export function validityStatus(cert: X509Certificate, now: Date): string {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now.getTime() < from) return `NOT YET VALID (starts in ${formatDuration(from - now.getTime())})`;
  if (now.getTime() > to) return `EXPIRED ${formatDuration(now.getTime() - to)} ago`;
  return `valid, ${formatDuration(to - now.getTime())} left`;
}

export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days >= 365) return `${Math.floor(days / 365)}y ${days % 365}d`;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${mins}m`;
  return `${mins}m`;
}

export function renderInspection(certs: readonly X509Certificate[], now: Date): string {
  return certs
    .map((cert, i) => {
      const s = summarizeCertificate(cert, now);
      const role = s.ca ? (s.selfSigned ? "root CA" : "intermediate CA") : "leaf";
      const lines = [
        `certificate ${i + 1} of ${certs.length} (${role})`,
        `  subject:      ${s.subject}`,
        `  issuer:       ${s.issuer}`,
        `  serial:       ${s.serial}`,
        `  SANs:         ${[...s.uris.map((u) => `URI:${u}`), ...s.dnsNames.map((d) => `DNS:${d}`)].join(", ") || "none"}`,
        `  not before:   ${s.notBefore}`,
        `  not after:    ${s.notAfter}`,
        `  status:       ${s.status}`,
        `  key:          ${s.keyType}`,
        `  sha256:       ${s.sha256Fingerprint}`,
        `  CA:           ${s.ca ? `yes, pathLen ${s.pathLen ?? "unlimited"}` : "no"}`,
        `  key usage:    ${s.keyUsage?.join(", ") ?? "(not restricted)"}`,
        `  EKU:          ${s.extendedKeyUsage?.join(", ") ?? "(not restricted)"}`,
      ];
      if (s.nameConstraints) {
        lines.push(`  name constraints: permitted ${s.nameConstraints.permitted.join(", ") || "-"}; excluded ${s.nameConstraints.excluded.join(", ") || "-"}`);
      }
      return lines.join("\n");
    })
    .join("\n\n")
    .concat("\n");
}
