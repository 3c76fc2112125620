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
  /**
   * The chain starts at the CA that issues this side's SVIDs (a cacerts folder), not at a
   * leaf: the doctor then answers for every SVID that CA issues, skipping leaf checks.
   */
  readonly presentsCa?: boolean;
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
  /** For unknown-authority: the presenter's root, which the verifier lacks. */
  readonly presentedRoot?: X509Certificate;
}

/** A root one side lacks: the two sides chain to different roots. */
export interface MissingRoot {
  /** The side that lacks it (verifies the other side with a bundle without it). */
  readonly verifier: "client" | "server";
  /** That side's trust store, in words. */
  readonly verifierBundle: string;
  /** The other side's root, and where it came from. */
  readonly root: X509Certificate;
  readonly rootSource: string;
  /** The mesh the other side's CA was made for (`OU` of a meshgate intermediate), when known. */
  readonly mesh?: string;
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
  /** Roots a side lacks because the two sides chain to different roots (the classic case). */
  readonly missingRoots: readonly MissingRoot[];
}

export function diagnoseTrust(input: DoctorInput): TrustDiagnosis {
  const toServer = diagnoseDirection("client->server", input.client, input.server, "client", input);
  const toClient = diagnoseDirection("server->client", input.server, input.client, "server", input);
  const missingRoots: MissingRoot[] = [];
  for (const [dir, presenter, verifier] of [[toServer, input.client, input.server], [toClient, input.server, input.client]] as const) {
    const root = dir.findings.find((f) => f.presentedRoot !== undefined)?.presentedRoot;
    if (!root) continue;
    const v = party(dir.direction === "client->server" ? "server" : "client", verifier);
    const mesh = meshOf(presenter.chain);
    missingRoots.push({ verifier: v.name, verifierBundle: v.bundleName, root, rootSource: presenter.chainSource, ...(mesh ? { mesh } : {}) });
  }
  return { trusted: toServer.trusted && toClient.trusted, directions: [toServer, toClient], missingRoots };
}

/** The mesh a meshgate intermediate was made for: `O=meshgate, OU=<mesh>` (meshgate pki intermediate, the managed CA). */
function meshOf(chain: readonly X509Certificate[]): string | undefined {
  for (const c of chain) {
    if (isSelfSigned(c)) continue;
    const fields = new Map((c.subject ?? "").split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const));
    if (fields.get("O") === "meshgate" && fields.get("OU")) return fields.get("OU");
  }
  return undefined;
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
    ...(presenterSide.presentsCa ? { presentedIsCa: true } : {}),
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
    summary: presenterSide.presentsCa
      ? `the ${presenter.name} presents SVIDs issued by the CA in ${presenterSide.chainSource}; the ${verifier.name} verifies them with ${verifier.bundleName}`
      : `the ${presenter.name} presents ${presenterSide.chainSource}; the ${verifier.name} verifies it with ${verifier.bundleName}`,
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
      // The presenter's top intermediate: the last one presented (its first when the side is given as a CA).
      const intermediate = presenter.presented.length > 1 ? presenter.presented[presenter.presented.length - 1] : presenter.side.presentsCa ? presenter.presented[0] : undefined;
      const reissue = ourRoot
        ? `or reissue the ${p}'s intermediate${intermediate ? ` ${describeCertificateName(intermediate)}` : ""} under root ${describeCertificateName(ourRoot)} (meshgate pki intermediate --root <folder of that root> --mesh <mesh> --out <dir>) and reissue its SVIDs`
        : "";
      return { reason: problem.reason, message, fix: [addRoot, reissue].filter(Boolean).join("\n       "), ...(theirRoot ? { presentedRoot: theirRoot } : {}) };
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
      // Different roots: the diagnosis below names both roots and both fixes at once.
      out.push(f.presentedRoot ? "  fix: see fix A and fix B below" : `  fix: ${f.fix}`);
    }
  }
  out.push(...renderMissingRoots(d.missingRoots));
  out.push(d.trusted ? "mutual TLS would succeed in both directions" : "mutual TLS would fail");
  return `${out.join("\n")}\n`;
}

/**
 * Different roots: which root is missing where, then the two ways out, in meshgate's
 * terms (Mesh resources, BackendTLSPolicy) as well as the files' (`meshgate pki`).
 */
function renderMissingRoots(missing: readonly MissingRoot[]): string[] {
  if (missing.length === 0) return [];
  const other = (m: MissingRoot) => (m.verifier === "client" ? "server" : "client");
  const label = (m: MissingRoot) => `the ${other(m)}'s root${m.mesh ? ` (Mesh ${m.mesh})` : ""}`;
  const out = [
    missing.length === 2 ? "diagnosis: the client and the server chain to different roots, and neither trusts the other's:" : `diagnosis: the client and the server chain to different roots, and the ${missing[0]!.verifier} does not trust the ${other(missing[0]!)}'s:`,
    ...missing.map((m) => `  the ${m.verifier} lacks the ${other(m)}'s root ${describeCertificateName(m.root)}${m.mesh ? `, of Mesh ${m.mesh}` : ""}; it verifies with ${m.verifierBundle}`),
    "fix A, one root for both: issue both sides' intermediates from one root (one trust domain) and reissue their SVIDs:",
    "    meshgate pki init --trust-domain <trust domain> --out <root folder>",
    "    meshgate pki intermediate --root <root folder> --mesh <mesh> --out <folder>   (once per side)",
    "  with meshgate: both Meshes name the same spec.ca.rootName and spec.trustDomain, or use spec.ca.mode: Provided with those folders",
    "fix B, keep both roots and trust both:",
  ];
  for (const m of missing) {
    const name = `${m.mesh ?? (m.verifier === "client" ? "server" : "client")}-root`;
    out.push(`  the ${m.verifier} trusts ${label(m)}: meshgate trust bundle --from ${m.rootSource} --format configmap --name ${name} > ${name}.yaml`);
    out.push(
      m.verifier === "server"
        ? `    with meshgate: the server's Mesh lists that ConfigMap in spec.trustedRoots`
        : `    with meshgate: a BackendTLSPolicy on the server's Service names that ConfigMap in validation.caCertificateRefs (or the client's Mesh lists it in spec.trustedRoots)`,
    );
  }
  return out;
}
