// Where the key material of control-plane-issued secrets comes from: the proxies' SVIDs
// and the trust bundles of the mesh's trust domains. The IR only names them (translation
// stays pure); the snapshot builder asks this source when it encodes secrets.

import { generateKeyPair, privateKeyToPem, SpiffeId } from "../pki/index.js";
import type { FastSvidIssuer } from "../pki/index.js";
import { TrustDomainUnknownError } from "../errors.js";

export interface SvidMaterial {
  /** Leaf first, then the intermediates (not the root). */
  readonly certChainPem: string;
  readonly keyPem: string;
}

export interface CertificateSource {
  /** The current SVID for this identity; the same object until it is renewed. */
  svid(spiffeId: string): SvidMaterial;
  /** The roots of these trust domains, PEM, concatenated. */
  trustBundle(trustDomains: readonly string[]): string;
}

export interface CaCertificateSourceOptions {
  /** Issues SVIDs of the mesh's trust domain. */
  readonly issuer: FastSvidIssuer;
  /** Root certificates (PEM) by trust domain name. */
  readonly roots: ReadonlyMap<string, string>;
  /** SVID lifetime (default: the issuer's, 24 h). */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

interface CachedSvid {
  readonly material: SvidMaterial;
  /** Renewed once half of its lifetime has passed. */
  readonly renewAt: number;
}

const DEFAULT_TTL_MS = 24 * 3_600_000;
/** renewDue() also renews what falls due this soon after (a tenth of the lifetime, at most this). */
const MAX_RENEWAL_BATCH_MS = 5 * 60_000;

/**
 * Issues each identity's SVID once and hands the same one out to every build (and every
 * replica with that identity) until half its lifetime has passed, so a rebuild does not
 * re-issue certificates and unchanged secrets keep their version.
 */
export class CaCertificateSource implements CertificateSource {
  private readonly svids = new Map<string, CachedSvid>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  issued = 0;

  constructor(private readonly options: CaCertificateSourceOptions) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  svid(spiffeId: string): SvidMaterial {
    const now = this.now();
    const cached = this.svids.get(spiffeId);
    if (cached && now < cached.renewAt) return cached.material;
    return this.issue(spiffeId, now);
  }

  private issue(spiffeId: string, now: number): SvidMaterial {
    const { privateKey, publicKey } = generateKeyPair("ec-p256");
    const issued = this.options.issuer.issueForKey(publicKey, SpiffeId.parse(spiffeId), { ttlMs: this.ttlMs, now: () => new Date(now) });
    const material = { certChainPem: issued.chainPem, keyPem: privateKeyToPem(privateKey) };
    // Half of the lifetime the certificate really has: X.509 times drop the milliseconds,
    // and an intermediate that expires first cuts the SVID short.
    const notAfter = issued.notAfter.getTime();
    this.svids.set(spiffeId, { material, renewAt: now + Math.max(0, notAfter - now) / 2 });
    this.issued++;
    return material;
  }

  /**
   * Renews every SVID past half life, and with them those due within a tenth of their
   * lifetime (at most 5 min): SVIDs issued together (one build issues every proxy's, a
   * few ms apart) are renewed together, by one rebuild and one push, not one each.
   * Returns how many were renewed.
   */
  renewDue(): number {
    const now = this.now();
    const horizon = now + Math.min(this.ttlMs / 10, MAX_RENEWAL_BATCH_MS);
    let renewed = 0;
    for (const [id, s] of [...this.svids]) {
      if (s.renewAt > horizon) continue;
      this.issue(id, now);
      renewed++;
    }
    return renewed;
  }

  /** Forgets every identity not in `spiffeIds`: nobody is served it, so it is not renewed either. */
  retain(spiffeIds: ReadonlySet<string>): void {
    for (const id of [...this.svids.keys()]) if (!spiffeIds.has(id)) this.svids.delete(id);
  }

  /** When the earliest SVID handed out needs replacing (ms since the epoch). */
  nextRenewal(): number | undefined {
    let next: number | undefined;
    for (const s of this.svids.values()) if (next === undefined || s.renewAt < next) next = s.renewAt;
    return next;
  }

  trustBundle(trustDomains: readonly string[]): string {
    return trustDomains
      .map((td) => {
        const pem = this.options.roots.get(td);
        if (pem === undefined) throw new TrustDomainUnknownError(td);
        return pem.endsWith("\n") ? pem : `${pem}\n`;
      })
      .join("");
  }
}
