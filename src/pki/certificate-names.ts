// How certificates are named in messages: subject (or SAN for empty-subject SVIDs) and
// SHA-256 fingerprint, so a person can tell two roots with the same name apart.

import type { X509Certificate } from "node:crypto";

export function subjectText(cert: X509Certificate): string {
  // Node reports an empty subject (usual for SVIDs) as undefined.
  return (cert.subject ?? "").split("\n").filter(Boolean).join(", ");
}

export function describeCertificateName(cert: X509Certificate): string {
  const subject = subjectText(cert);
  const label = subject !== "" ? subject : (cert.subjectAltName ?? "(empty subject)");
  return `"${label}" (sha256 ${cert.fingerprint256})`;
}
