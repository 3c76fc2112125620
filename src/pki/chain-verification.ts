// Chain verification that explains itself. It builds the path from a presented leaf to
// a root in a trust bundle and checks what TLS stacks check (signatures, validity, CA
// flags, key usage, EKU, pathLen, name constraints) plus the SPIFFE rules (one URI SAN,
// expected ID, trust domain). Every failure becomes a ChainProblem with a stable reason,
// so the same engine answers "does it verify" (verifySvidChain) and "why not" (doctor).
// Signatures are checked with Node's X509Certificate (OpenSSL).

import type { X509Certificate } from "node:crypto";
import { ChainUntrustedError } from "../errors.js";
import type { ChainFailureReason } from "../errors.js";
import {
  OID_CLIENT_AUTH,
  OID_SERVER_AUTH,
  certificateFacts,
  dnsMatchesConstraint,
  hostMatchesConstraint,
  uriHost,
} from "./certificate-facts.js";
import { describeCertificateName } from "./certificate-names.js";
import { isSelfSigned } from "./pem.js";
import { tryParseSpiffeId } from "./spiffe-id.js";
import type { SpiffeId } from "./spiffe-id.js";
import { describeMatcher, matches } from "./spiffe-id-matcher.js";
import type { SpiffeIdMatcher } from "./spiffe-id-matcher.js";
import type { TrustDomain } from "./trust-domain.js";

/** What the presented certificate is used as: a TLS server or a TLS client. */
export type TlsRole = "server" | "client";

export interface ChainCheckInput {
  /** The presented chain, leaf first (any self-signed certificates in it are ignored as anchors). */
  readonly presented: readonly X509Certificate[];
  /** The verifier's trust bundle. */
  readonly roots: readonly X509Certificate[];
  readonly role: TlsRole;
  readonly now: Date;
  /** Who the verifier expects on the other end. */
  readonly expectedId?: SpiffeIdMatcher;
  /** A DNS name the server certificate must cover (what a gateway dials by name). */
  readonly expectedDnsName?: string;
  /** Require a SPIFFE ID in the leaf (default true). */
  readonly requireSpiffeId?: boolean;
  /**
   * Roots the presenter itself trusts (for naming them when the verifier does not);
   * never used as anchors.
   */
  readonly presenterRoots?: readonly X509Certificate[];
  /**
   * The chain starts at the CA that issues the presenter's certificates, not at a leaf
   * (the question is "would this CA's SVIDs be trusted"): the end-entity checks (EKU, key
   * usage, SPIFFE ID, expected names) are skipped, and the first certificate must be a CA.
   */
  readonly presentedIsCa?: boolean;
}

export interface ChainProblem {
  readonly reason: ChainFailureReason;
  readonly message: string;
  /** The certificate the problem is about. */
  readonly certificate: X509Certificate;
  /** For unknown-authority: the root the presented chain leads to, when known. */
  readonly presentedRoot?: X509Certificate;
}

export interface ChainCheckResult {
  readonly ok: boolean;
  readonly problems: readonly ChainProblem[];
  /** Leaf first, then the intermediates used; the anchor is separate. */
  readonly path: readonly X509Certificate[];
  readonly anchor: X509Certificate | undefined;
  readonly spiffeId: SpiffeId | undefined;
}

const signedBy = (cert: X509Certificate, issuer: X509Certificate): boolean =>
  cert.issuer === issuer.subject && cert.verify(issuer.publicKey);

export function checkChain(input: ChainCheckInput): ChainCheckResult {
  const problems: ChainProblem[] = [];
  const leaf = input.presented[0];
  if (leaf === undefined) throw new Error("checkChain: empty chain");
  const intermediates = input.presented.slice(1).filter((c) => !isSelfSigned(c));
  const path: X509Certificate[] = [leaf];
  let anchor: X509Certificate | undefined;

  // Build the path: prefer a trusted root at each step, else a presented intermediate.
  for (;;) {
    const top = path[path.length - 1]!;
    anchor = input.roots.find((r) => signedBy(top, r));
    if (anchor !== undefined) break;
    if (isSelfSigned(top) && input.roots.some((r) => r.raw.equals(top.raw))) {
      anchor = top; // a trusted root presented as the leaf: reported below as ca-as-leaf
      break;
    }
    const next = intermediates.find((c) => !path.includes(c) && signedBy(top, c));
    if (next === undefined) {
      problems.push(untrustedTopProblem(top, input, path.length === 1));
      break;
    }
    path.push(next);
  }

  // Validity of every certificate, anchor included (OpenSSL checks the anchor too).
  for (const cert of anchor ? [...path, anchor] : path) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (input.now.getTime() < from) {
      problems.push({ reason: "not-yet-valid", certificate: cert, message: `${describeCertificateName(cert)} is not valid until ${iso(from)} (now ${input.now.toISOString()})` });
    } else if (input.now.getTime() > to) {
      problems.push({ reason: "expired", certificate: cert, message: `${describeCertificateName(cert)} expired at ${iso(to)} (now ${input.now.toISOString()})` });
    }
  }

  // The leaf must be an end-entity certificate fit for this TLS role.
  const leafFacts = certificateFacts(leaf);
  if (input.presentedIsCa) {
    if (leafFacts.basicConstraints?.ca !== true) {
      problems.push({ reason: "not-a-ca", certificate: leaf, message: `${describeCertificateName(leaf)} was given as the CA that issues this side's certificates, but it is not a CA (no CA:TRUE)` });
    }
  } else if (leafFacts.basicConstraints?.ca === true) {
    problems.push({ reason: "ca-as-leaf", certificate: leaf, message: `${describeCertificateName(leaf)} is a CA certificate (CA:TRUE) presented as a workload certificate` });
  } else {
    if (leafFacts.keyUsage !== undefined && !leafFacts.keyUsage.includes("digitalSignature")) {
      problems.push({ reason: "wrong-key-usage", certificate: leaf, message: `${describeCertificateName(leaf)} key usage (${leafFacts.keyUsage.join(", ") || "none"}) lacks digitalSignature` });
    }
    const purpose = input.role === "server" ? OID_SERVER_AUTH : OID_CLIENT_AUTH;
    if (leafFacts.extendedKeyUsage !== undefined && !leafFacts.extendedKeyUsage.includes(purpose)) {
      problems.push({
        reason: "wrong-eku",
        certificate: leaf,
        message: `${describeCertificateName(leaf)} extended key usage lacks ${input.role === "server" ? "serverAuth" : "clientAuth"} (has ${leafFacts.extendedKeyUsage.map(ekuName).join(", ") || "none"})`,
      });
    }
  }

  // Every issuer must be a CA allowed to sign certificates, within its pathLen, and
  // every certificate below it must respect its name constraints.
  const issuers = anchor && anchor !== leaf ? [...path.slice(1), anchor] : path.slice(1);
  issuers.forEach((ca, index) => {
    const facts = certificateFacts(ca);
    if (facts.basicConstraints?.ca !== true) {
      problems.push({ reason: "not-a-ca", certificate: ca, message: `${describeCertificateName(ca)} signs certificates but is not a CA (no CA:TRUE)` });
    }
    if (facts.keyUsage !== undefined && !facts.keyUsage.includes("keyCertSign")) {
      problems.push({ reason: "wrong-key-usage", certificate: ca, message: `${describeCertificateName(ca)} key usage lacks keyCertSign` });
    }
    // CA certificates between this one and the leaf (self-issued ones do not count).
    // (A CA given in place of the leaf counts: a leaf will sit below it.)
    const below = path.slice(input.presentedIsCa ? 0 : 1, index + 1).filter((c) => c.subject !== c.issuer).length;
    const pathLen = facts.basicConstraints?.pathLen;
    if (pathLen !== undefined && below > pathLen) {
      problems.push({
        reason: "path-length-exceeded",
        certificate: ca,
        message: `${describeCertificateName(ca)} allows ${pathLen} intermediate CA(s) below it (pathLen ${pathLen}) but the chain has ${below}`,
      });
    }
    const nc = facts.nameConstraints;
    if (nc !== undefined) {
      for (const subordinate of path.slice(0, index + 1)) {
        const sub = certificateFacts(subordinate);
        for (const uri of sub.uris) {
          const host = uriHost(uri) ?? "";
          const permitted = nc.permittedUris.length === 0 || nc.permittedUris.some((c) => hostMatchesConstraint(host, c));
          const excluded = nc.excludedUris.some((c) => hostMatchesConstraint(host, c));
          if (!permitted || excluded) {
            problems.push({
              reason: "name-constraint-violated",
              certificate: subordinate,
              message: `${uri} in ${describeCertificateName(subordinate)} violates the name constraints of ${describeCertificateName(ca)} (permitted URI hosts: ${nc.permittedUris.join(", ") || "any"}${nc.excludedUris.length ? `; excluded: ${nc.excludedUris.join(", ")}` : ""})`,
            });
          }
        }
        for (const dns of sub.dnsNames) {
          const permitted = nc.permittedDns.length === 0 || nc.permittedDns.some((c) => dnsMatchesConstraint(dns, c));
          const excluded = nc.excludedDns.some((c) => dnsMatchesConstraint(dns, c));
          if (!permitted || excluded) {
            problems.push({ reason: "name-constraint-violated", certificate: subordinate, message: `DNS name ${dns} violates the name constraints of ${describeCertificateName(ca)}` });
          }
        }
      }
    }
  });

  if (input.presentedIsCa) return { ok: problems.length === 0, problems, path, anchor, spiffeId: undefined };

  // SPIFFE identity: exactly one URI SAN that is a SPIFFE ID, in the anchor's trust domain.
  let spiffeId: SpiffeId | undefined;
  const uris = leafFacts.uris;
  if (uris.length === 1) spiffeId = tryParseSpiffeId(uris[0]!);
  if (spiffeId === undefined && (input.requireSpiffeId ?? true) && leafFacts.basicConstraints?.ca !== true) {
    problems.push({
      reason: "not-an-svid",
      certificate: leaf,
      message: `${describeCertificateName(leaf)} is not an X.509-SVID: it needs exactly one spiffe:// URI SAN (has ${uris.length === 0 ? "none" : uris.join(", ")})`,
    });
  }
  if (spiffeId !== undefined && anchor !== undefined) {
    const anchorTd = trustDomainOf(anchor);
    if (anchorTd !== undefined && !spiffeId.memberOf(anchorTd)) {
      problems.push({
        reason: "outside-trust-domain",
        certificate: leaf,
        message: `${spiffeId.toString()} is outside trust domain ${anchorTd.name} of the root ${describeCertificateName(anchor)} that verified it`,
      });
    }
  }
  if (input.expectedId !== undefined && (spiffeId === undefined || !matches(input.expectedId, spiffeId))) {
    problems.push({
      reason: "spiffe-id-mismatch",
      certificate: leaf,
      message: `expected ${describeMatcher(input.expectedId)} but the certificate is ${spiffeId?.toString() ?? "without a SPIFFE ID"}`,
    });
  }
  if (input.expectedDnsName !== undefined && leaf.checkHost(input.expectedDnsName) === undefined) {
    problems.push({
      reason: "san-mismatch",
      certificate: leaf,
      message: `${describeCertificateName(leaf)} does not cover DNS name ${input.expectedDnsName} (DNS SANs: ${leafFacts.dnsNames.join(", ") || "none"})`,
    });
  }
  return { ok: problems.length === 0, problems, path, anchor, spiffeId };
}

/** Verifies an X.509-SVID chain; returns its SPIFFE ID or throws ChainUntrustedError with the first reason. */
export function verifySvidChain(input: ChainCheckInput): SpiffeId {
  const result = checkChain(input);
  const first = result.problems[0];
  if (first !== undefined) throw new ChainUntrustedError(first.reason, first.message);
  return result.spiffeId!;
}

/** A root's trust domain, from its `spiffe://<td>` URI SAN if it has one. */
export function trustDomainOf(cert: X509Certificate): TrustDomain | undefined {
  for (const uri of certificateFacts(cert).uris) {
    const id = tryParseSpiffeId(uri);
    if (id !== undefined) return id.trustDomain;
  }
  return undefined;
}

function untrustedTopProblem(top: X509Certificate, input: ChainCheckInput, leafOnly: boolean): ChainProblem {
  const presentedRoot = isSelfSigned(top) ? top : (input.presenterRoots ?? []).find((r) => signedBy(top, r));
  if (presentedRoot !== undefined) {
    return {
      reason: "unknown-authority",
      certificate: top,
      presentedRoot,
      message: `certificate signed by unknown authority: the chain leads to root ${describeCertificateName(presentedRoot)}, which is not in the trust bundle`,
    };
  }
  const sameName = input.roots.find((r) => r.subject === top.issuer);
  if (sameName !== undefined) {
    return {
      reason: "unknown-authority",
      certificate: top,
      message: `certificate signed by unknown authority: ${describeCertificateName(top)} names the trusted root ${describeCertificateName(sameName)} as issuer, but that root's key did not sign it (a different root with the same name)`,
    };
  }
  if (leafOnly) {
    return {
      reason: "missing-intermediate",
      certificate: top,
      message: `missing intermediate: ${describeCertificateName(top)} was issued by "${issuerText(top)}", which was not presented and is not in the trust bundle`,
    };
  }
  return {
    reason: "unknown-authority",
    certificate: top,
    message: `certificate signed by unknown authority: ${describeCertificateName(top)} was issued by "${issuerText(top)}", which is neither presented nor in the trust bundle`,
  };
}

function issuerText(cert: X509Certificate): string {
  return (cert.issuer ?? "").split("\n").filter(Boolean).join(", ");
}

function ekuName(oid: string): string {
  return oid === OID_SERVER_AUTH ? "serverAuth" : oid === OID_CLIENT_AUTH ? "clientAuth" : oid;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

