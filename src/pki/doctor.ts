// The trust doctor: given what a client and a server present and trust, would mutual TLS
// work in each direction, and if not, exactly why and what to change. It reproduces the
// classic failure this project exists for: two meshes (or a gateway and a mesh), each
// with its own self-signed root, fail with "certificate signed by unknown authority";
// the fix is to add the other side's root to the bundle, or to reissue one side's
// intermediate under the other side's root.

import type { X509Certificate } from "node:crypto";
import type { ChainFailureReason } from "../errors.js";
import { describeCertificateName } from "./certificate-names.js";
import { checkChain } from "./chain-verification.js";
import type { ChainProblem, TlsRole } from "./chain-verification.js";
import { isSelfSigned } from "./pem.js";
import type { SpiffeIdMatcher } from "./spiffe-id-matcher.js";

export interface TrustSide {
  /** The file the chain came from (for messages). */
  readonly chainSource: string;
  /** Everything in the chain file: leaf first; self-signed certificates are this side's own roots. */
  readonly chain: readonly X509Certificate[];
  /** What this side trusts; when absent, the roots found in its own chain file. */
  readonly bundle?: readonly X509Certificate[];
  readonly bundleSource?: string;
  /** The peer identity this side expects. */
  readonly expectPeer?: SpiffeIdMatcher;
}

export interface DoctorInput {
  readonly client: TrustSide;
  readonly server: TrustSide;
  readonly now: Date;
  /** The DNS name the client dials, when the server certificate must cover it. */
  readonly serverName?: string;
}

export type Direction = "client->server" | "server->client";

export interface Finding {
  readonly reason: ChainFailureReason;
  readonly message: string;
  readonly fix: string;
}

export interface DirectionDiagnosis {
  readonly direction: Direction;
  /** Who presents and who verifies, in words. */
  readonly summary: string;
  readonly trusted: boolean;
  readonly findings: readonly Finding[];
}

export interface TrustDiagnosis {
  readonly trusted: boolean;
  readonly directions: readonly [DirectionDiagnosis, DirectionDiagnosis];
}

export function diagnoseTrust(input: DoctorInput): TrustDiagnosis {
  const toServer = diagnoseDirection("client->server", input.client, input.server, "client", input);
  const toClient = diagnoseDirection("server->client", input.server, input.client, "server", input);
  return { trusted: toServer.trusted && toClient.trusted, directions: [toServer, toClient] };
}

interface Party {
  readonly name: "client" | "server";
  readonly side: TrustSide;
  readonly presented: X509Certificate[];
  readonly ownRoots: X509Certificate[];
  readonly bundle: readonly X509Certificate[];
  readonly bundleName: string;
}

function party(name: "client" | "server", side: TrustSide): Party {
  const ownRoots = side.chain.filter(isSelfSigned);
  const presented = side.chain.filter((c, i) => i === 0 || !isSelfSigned(c));
  const bundle = side.bundle ?? ownRoots;
  const bundleName = side.bundle ? `the ${name} bundle (${side.bundleSource ?? "given"})` : `the ${name}'s trust store (the root in ${side.chainSource})`;
  return { name, side, presented, ownRoots, bundle, bundleName };
}

function diagnoseDirection(direction: Direction, presenterSide: TrustSide, verifierSide: TrustSide, role: TlsRole, input: DoctorInput): DirectionDiagnosis {
  const presenter = party(role, presenterSide);
  const verifier = party(role === "client" ? "server" : "client", verifierSide);
  const result = checkChain({
    presented: presenter.presented,
    roots: verifier.bundle,
    role,
    now: input.now,
    presenterRoots: presenter.ownRoots,
    ...(verifierSide.expectPeer ? { expectedId: verifierSide.expectPeer } : {}),
    ...(role === "server" && input.serverName !== undefined ? { expectedDnsName: input.serverName } : {}),
  });
  const findings = result.problems.map((p) => explain(p, presenter, verifier));
  if (verifier.bundle.length === 0) {
    findings.unshift({
      reason: "unknown-authority",
      message: `the ${verifier.name} trusts no root: ${verifier.side.chainSource} holds no self-signed root and no --${verifier.name}-bundle was given`,
      fix: `give --${verifier.name}-bundle with the roots the ${verifier.name} trusts`,
    });
  }
  return {
    direction,
    summary: `the ${presenter.name} presents ${presenterSide.chainSource}; the ${verifier.name} verifies it with ${verifier.bundleName}`,
    trusted: findings.length === 0,
    findings,
  };
}

const names = (certs: readonly X509Certificate[]): string => certs.map(describeCertificateName).join(", ") || "(none)";

function explain(problem: ChainProblem, presenter: Party, verifier: Party): Finding {
  const p = presenter.name;
  const v = verifier.name;
  const subject = describeCertificateName(problem.certificate);
  switch (problem.reason) {
    case "unknown-authority": {
      const theirRoot = problem.presentedRoot;
      const message = theirRoot
        ? `certificate signed by unknown authority: different roots. The ${p}'s chain leads to root ${describeCertificateName(theirRoot)}; ${verifier.bundleName} holds only ${names(verifier.bundle)}`
        : problem.message;
      const ourRoot = verifier.bundle[0];
      const addRoot = theirRoot
        ? `add root ${describeCertificateName(theirRoot)} to ${verifier.bundleName} (e.g. meshgate trust bundle --from ${presenter.side.chainSource} >> <${v} bundle>)`
        : `add the root that issued ${subject} to ${verifier.bundleName}`;
      const reissue = ourRoot
        ? `or reissue the ${p}'s intermediate ${presenter.presented.length > 1 ? describeCertificateName(presenter.presented[presenter.presented.length - 1]!) : ""} under root ${describeCertificateName(ourRoot)} (meshgate pki intermediate --root <folder of that root> --mesh <mesh> --out <dir>) and reissue its SVIDs`
        : "";
      return { reason: problem.reason, message, fix: [addRoot, reissue].filter(Boolean).join("\n       ") };
    }
    case "missing-intermediate":
      return {
        reason: problem.reason,
        message: problem.message,
        fix: `the ${p} must send its intermediate with the leaf: configure chain.pem (leaf + intermediate) instead of cert.pem; or add the intermediate to ${verifier.bundleName}`,
      };
    case "expired":
    case "not-yet-valid":
      return {
        reason: problem.reason,
        message: problem.message,
        fix:
          problem.reason === "expired"
            ? `renew ${subject}${isSelfSigned(problem.certificate) ? " (a root: rotate it, see docs/pki.md)" : problem.certificate === presenter.presented[0] ? " (meshgate pki issue ...)" : " (meshgate pki intermediate ...)"}`
            : `check the clocks of both machines, or reissue ${subject} with a start time in the past`,
      };
    case "wrong-eku":
      return { reason: problem.reason, message: problem.message, fix: `reissue the ${p}'s certificate with extended key usage serverAuth and clientAuth (meshgate pki issue does)` };
    case "wrong-key-usage":
      return {
        reason: problem.reason,
        message: problem.message,
        fix: problem.certificate === presenter.presented[0] ? `reissue the ${p}'s certificate with key usage digitalSignature` : `reissue ${subject} with key usage keyCertSign, cRLSign`,
      };
    case "ca-as-leaf":
      return { reason: problem.reason, message: problem.message, fix: `the ${p} must present a workload certificate issued by the CA (meshgate pki issue --ca ...), never the CA certificate itself` };
    case "not-a-ca":
      return { reason: problem.reason, message: problem.message, fix: `reissue ${subject} as a CA (basicConstraints CA:TRUE), e.g. meshgate pki intermediate` };
    case "path-length-exceeded":
      return {
        reason: problem.reason,
        message: problem.message,
        fix: `issue the ${p}'s intermediate directly under root ${names(presenter.ownRoots.length ? presenter.ownRoots : verifier.bundle)} (meshgate pki intermediate --root ...), not under another intermediate`,
      };
    case "name-constraint-violated":
      return {
        reason: problem.reason,
        message: problem.message,
        fix: `issue the ${p}'s SVID from an intermediate of its own trust domain, or reissue the intermediate with a name constraint that covers it`,
      };
    case "spiffe-id-mismatch":
    case "san-mismatch":
      return {
        reason: problem.reason,
        message: problem.message,
        fix:
          problem.reason === "san-mismatch"
            ? `reissue the ${p}'s certificate with that name (meshgate pki issue --dns <name>), or dial a name it covers`
            : `reissue the ${p}'s SVID for the expected identity, or change what the ${v} expects`,
      };
    case "outside-trust-domain":
      return { reason: problem.reason, message: problem.message, fix: `issue the ${p}'s SVID from a CA of its own trust domain, or federate: add that trust domain's root as a separate bundle` };
    case "not-an-svid":
      return { reason: problem.reason, message: problem.message, fix: `issue the ${p}'s certificate with exactly one spiffe:// URI SAN (meshgate pki issue --spiffe-id ...)` };
    case "bad-signature":
      return { reason: problem.reason, message: problem.message, fix: `reissue ${subject}; its signature does not verify` };
  }
}

export function renderDiagnosis(d: TrustDiagnosis): string {
  const out: string[] = [];
  for (const dir of d.directions) {
    out.push(`${dir.direction}: ${dir.trusted ? "TRUSTED" : "NOT TRUSTED"}`);
    out.push(`  ${dir.summary}`);
    for (const f of dir.findings) {
      out.push(`  problem (${f.reason}): ${f.message}`);
      out.push(`  fix: ${f.fix}`);
    }
  }
  out.push(d.trusted ? "mutual TLS would succeed in both directions" : "mutual TLS would fail");
  return `${out.join("\n")}\n`;
}
