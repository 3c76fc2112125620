// When to renew, and root rotation without a failed handshake. Time always comes from an
// injected clock so tests (and simulations) can move it.
//
// - SVIDs (and intermediates) are renewed at half their lifetime, leaving the other half
//   to ride out a CA that is briefly unreachable.
// - A root is rotated with overlap: (1) the new root joins every bundle while issuing
//   continues under the old root; (2) once every consumer has the new root (e.g. every
//   proxy ACKed the bundle), intermediates are reissued under the new root and new SVIDs
//   chain to it; (3) the old root stays in bundles until every SVID issued under it has
//   expired (or the operator says all workloads have renewed), then it is dropped.

import type { X509Certificate } from "node:crypto";
import { RotationStateError } from "../errors.js";
import { DEFAULT_SVID_TTL_MS, createIntermediateCa, systemClock } from "./certificate-authority.js";
import type { CertificateAuthority, Clock, IntermediateOptions } from "./certificate-authority.js";
import { TrustBundle } from "./trust-bundle.js";

export function renewalTime(cert: X509Certificate): Date {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return new Date(from + (to - from) / 2);
}

/** True from half of the certificate's lifetime on. */
export function needsRenewal(cert: X509Certificate, now: Date): boolean {
  return now.getTime() >= renewalTime(cert).getTime();
}

/** Holds a workload's current SVID and renews it through `issue` once it is half-way through its life. */
export class SvidRenewer<T extends { readonly certificate: X509Certificate }> {
  private svid: T | undefined;
  constructor(
    private readonly issue: () => Promise<T> | T,
    private readonly now: Clock = systemClock,
  ) {}

  get current(): T | undefined {
    return this.svid;
  }

  /** Issues when there is no SVID or it is due; returns whether a new one was issued. */
  async renewIfDue(): Promise<boolean> {
    if (this.svid !== undefined && !needsRenewal(this.svid.certificate, this.now())) return false;
    this.svid = await this.issue();
    return true;
  }
}

/** A new intermediate for the same mesh under `root` (after expiry approaches, or a root rotation). */
export function reissueIntermediate(root: CertificateAuthority, options: IntermediateOptions): Promise<CertificateAuthority> {
  return createIntermediateCa(root, options);
}

export type RootRotationPhase =
  /** Bundles carry old + new root; issuing still under the old root. */
  | "distributing-new-root"
  /** Issuing under the new root; bundles still carry the old root for SVIDs issued before. */
  | "issuing-under-new-root"
  /** Only the new root remains. */
  | "complete";

export class RootRotation {
  private oldRootDroppedAt: number | undefined;
  private switchedAt: number | undefined;

  constructor(
    readonly oldRoot: CertificateAuthority,
    readonly newRoot: CertificateAuthority,
    private readonly now: Clock = systemClock,
    private readonly baseBundle: TrustBundle = new TrustBundle([oldRoot.certificate], oldRoot.trustDomain),
  ) {
    if (oldRoot.certificate.raw.equals(newRoot.certificate.raw)) throw new RotationStateError("the new root is the old root");
  }

  get phase(): RootRotationPhase {
    if (this.switchedAt === undefined) return "distributing-new-root";
    if (this.oldRootDroppedAt === undefined || this.now().getTime() < this.oldRootDroppedAt) return "issuing-under-new-root";
    return "complete";
  }

  /** The root new intermediates must be issued under right now. */
  get signingRoot(): CertificateAuthority {
    return this.switchedAt === undefined ? this.oldRoot : this.newRoot;
  }

  /** The bundle every consumer should have right now. */
  bundle(): TrustBundle {
    const withNew = this.baseBundle.withRoot(this.newRoot.certificate);
    return this.phase === "complete" ? withNew.withoutRoot(this.oldRoot.certificate) : withNew;
  }

  /**
   * Every consumer has confirmed it holds the new root. From now on issue under the new
   * root; the old root stays in bundles for `longestSvidTtlMs` so SVIDs issued just before
   * keep verifying until they expire.
   */
  consumersHaveNewRoot(longestSvidTtlMs = DEFAULT_SVID_TTL_MS): void {
    if (this.switchedAt !== undefined) throw new RotationStateError("already issuing under the new root");
    this.switchedAt = this.now().getTime();
    this.oldRootDroppedAt = this.switchedAt + longestSvidTtlMs;
  }

  /** Every workload has renewed under the new root: drop the old root now. */
  oldSvidsRetired(): void {
    if (this.switchedAt === undefined) throw new RotationStateError("consumers must have the new root before the old one is dropped");
    this.oldRootDroppedAt = this.now().getTime();
  }
}
