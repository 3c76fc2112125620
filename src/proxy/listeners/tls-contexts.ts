// Downstream TLS material: SecureContexts built from SDS secrets (or inline certificates)
// and the checks done on a client certificate after the handshake.
//
// A SecureContext is expensive (key parsing, CA store) and holds the session-ticket keys,
// so it is built once per distinct material and reused across configuration updates; a
// changed secret yields a new context that new handshakes use, while connections already
// up keep the one they negotiated with.

import { createHash, X509Certificate } from "node:crypto";
import * as tls from "node:tls";

/** PEM text of one TLS certificate secret. */
export interface CertificateMaterial {
  readonly chainPem: string;
  readonly keyPem: string;
}

export interface ContextParams {
  readonly certificate: CertificateMaterial;
  /** PEM roots client certificates must chain to; undefined = no client verification. */
  readonly trustedCaPem: string | undefined;
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion | undefined;
  readonly ciphers: string | undefined;
  readonly ecdhCurve: string | undefined;
}

/** A built context and the DNS names its certificate serves (to pick among several per chain). */
export interface ServingCertificate {
  readonly context: tls.SecureContext;
  /** Lowercase DNS SANs, e.g. "shop.example", "*.api.example". */
  readonly dnsNames: readonly string[];
  /** URI SANs (e.g. the SVID's SPIFFE ID): x-forwarded-client-cert's `By`. */
  readonly uriSans: readonly string[];
}

/**
 * Keeps the contexts of the current configuration. `get` during an update marks what is
 * still used; `sweep` forgets the rest (open connections hold their own reference).
 */
export class SecureContextCache {
  private current = new Map<string, ServingCertificate>();
  private next = new Map<string, ServingCertificate>();

  /** Throws (Node's error) when the material is unusable; the caller names the resource. */
  get(params: ContextParams): ServingCertificate {
    const key = contextKey(params);
    const found = this.next.get(key) ?? this.current.get(key);
    if (found) {
      this.next.set(key, found);
      return found;
    }
    const context = tls.createSecureContext({
      cert: params.certificate.chainPem,
      key: params.certificate.keyPem,
      ...(params.trustedCaPem !== undefined ? { ca: params.trustedCaPem } : {}),
      minVersion: params.minVersion,
      ...(params.maxVersion !== undefined ? { maxVersion: params.maxVersion } : {}),
      ...(params.ciphers !== undefined ? { ciphers: params.ciphers } : {}),
      ...(params.ecdhCurve !== undefined ? { ecdhCurve: params.ecdhCurve } : {}),
      // Session tickets must not survive a certificate or trust change: a new context gets new keys.
      sessionIdContext: key.slice(0, 32),
    });
    const served = { context, ...namesOf(params.certificate.chainPem) };
    this.next.set(key, served);
    return served;
  }

  /** After a successful update: keep only what it used. */
  commit(): void {
    this.current = this.next;
    this.next = new Map();
  }

  /** After a failed update: forget what it built. */
  abandon(): void {
    this.next = new Map();
  }
}

function contextKey(p: ContextParams): string {
  const h = createHash("sha256");
  for (const part of [p.certificate.chainPem, p.certificate.keyPem, p.trustedCaPem ?? "-", p.minVersion, p.maxVersion ?? "-", p.ciphers ?? "-", p.ecdhCurve ?? "-"]) {
    h.update(part);
    h.update("\0");
  }
  return h.digest("hex");
}

function namesOf(chainPem: string): { dnsNames: string[]; uriSans: string[] } {
  const san = new X509Certificate(chainPem).subjectAltName;
  if (!san) return { dnsNames: [], uriSans: [] };
  const all = splitSubjectAltName(san);
  return { dnsNames: all.filter((e) => e.startsWith("DNS:")).map((e) => e.slice(4).toLowerCase()), uriSans: uriSansOf(all) };
}

/** The URI SANs among split SAN entries (`URI:` removed). */
export function uriSansOf(entries: readonly string[]): string[] {
  return entries.filter((e) => e.startsWith("URI:")).map((e) => e.slice(4));
}

/**
 * Node prints SANs as `URI:spiffe://a, DNS:b`; a value with special characters is quoted
 * as a JSON string (`URI:"spiffe://a,b"`).
 */
export function splitSubjectAltName(san: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(":", i);
    if (colon < 0) break;
    const type = san.slice(i, colon + 1);
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === "\\" ? 2 : 1;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        value = san.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const comma = san.indexOf(", ", j);
      const end = comma < 0 ? san.length : comma;
      value = san.slice(j, end);
      j = end;
    }
    out.push(type + value);
    i = san.startsWith(", ", j) ? j + 2 : j + 1;
  }
  return out;
}

/** The first `URI:spiffe://...` SAN, if any. */
export function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  if (!subjectAltName || !subjectAltName.includes("spiffe://")) return undefined;
  for (const e of splitSubjectAltName(subjectAltName)) if (e.startsWith("URI:spiffe://")) return e.slice(4);
  return undefined;
}

/** Picks the certificate whose DNS SANs cover `serverName` (exact, then wildcard), else the first. */
export function pickCertificate(certs: readonly ServingCertificate[], serverName: string | undefined): ServingCertificate {
  if (certs.length === 1 || serverName === undefined) return certs[0]!;
  for (const c of certs) if (c.dnsNames.includes(serverName)) return c;
  const dot = serverName.indexOf(".");
  if (dot > 0) {
    const wildcard = `*${serverName.slice(dot)}`;
    for (const c of certs) if (c.dnsNames.includes(wildcard)) return c;
  }
  return certs[0]!;
}

/** One entry of a `matchTypedSubjectAltNames` list (string matchers without regex). */
export interface SanMatcher {
  /** Node's SAN prefix: "URI:", "DNS:", "email:", "IP Address:". */
  readonly prefix: string;
  readonly kind: "exact" | "prefix" | "suffix" | "contains";
  readonly value: string;
  readonly ignoreCase: boolean;
}

/** True when one of the peer's SANs satisfies one of the matchers (Envoy: any-of). */
export function sanMatches(subjectAltName: string | undefined, matchers: readonly SanMatcher[]): boolean {
  if (!subjectAltName) return false;
  const entries = splitSubjectAltName(subjectAltName);
  for (const m of matchers) {
    for (const e of entries) {
      if (!e.startsWith(m.prefix)) continue;
      let v = e.slice(m.prefix.length);
      let want = m.value;
      if (m.ignoreCase) {
        v = v.toLowerCase();
        want = want.toLowerCase();
      }
      if (m.kind === "exact" ? v === want : m.kind === "prefix" ? v.startsWith(want) : m.kind === "suffix" ? v.endsWith(want) : v.includes(want)) return true;
    }
  }
  return false;
}
