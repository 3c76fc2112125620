// An X.509-SVID as a value: the certificate chain a workload presents (leaf first), its
// SPIFFE ID, and optionally its private key. Made by parsing, so an X509Svid always has
// exactly one SPIFFE ID URI SAN and a non-CA leaf.

import type { KeyObject, X509Certificate } from "node:crypto";
import { ChainUntrustedError } from "../errors.js";
import { certificateFacts } from "./certificate-facts.js";
import { describeCertificateName } from "./certificate-names.js";
import { verifySvidChain } from "./chain-verification.js";
import type { TlsRole } from "./chain-verification.js";
import { keysMatch } from "./key-pair.js";
import { parsePrivateKey } from "./key-store.js";
import { certificatesToPem, parseCertificates } from "./pem.js";
import { SpiffeId } from "./spiffe-id.js";
import type { SpiffeIdMatcher } from "./spiffe-id-matcher.js";

export class X509Svid {
  private constructor(
    readonly spiffeId: SpiffeId,
    /** Leaf first, then intermediates. */
    readonly certificates: readonly X509Certificate[],
    readonly privateKey: KeyObject | undefined,
  ) {
    Object.freeze(this);
  }

  static fromCertificates(certificates: readonly X509Certificate[], privateKey?: KeyObject): X509Svid {
    const leaf = certificates[0];
    if (leaf === undefined) throw new ChainUntrustedError("not-an-svid", "empty certificate chain");
    const facts = certificateFacts(leaf);
    if (facts.basicConstraints?.ca === true) {
      throw new ChainUntrustedError("ca-as-leaf", `${describeCertificateName(leaf)} is a CA certificate, not an X.509-SVID`);
    }
    if (facts.uris.length !== 1) {
      throw new ChainUntrustedError("not-an-svid", `${describeCertificateName(leaf)} must have exactly one URI SAN (has ${facts.uris.length})`);
    }
    const spiffeId = SpiffeId.parse(facts.uris[0]!);
    if (privateKey !== undefined && !keysMatch(privateKey, leaf.publicKey)) {
      throw new ChainUntrustedError("not-an-svid", "the private key does not match the leaf certificate");
    }
    return new X509Svid(spiffeId, Object.freeze([...certificates]), privateKey);
  }

  static parse(chainPem: string, keyPem?: string, where = "SVID"): X509Svid {
    const key = keyPem === undefined ? undefined : parsePrivateKey(keyPem, `${where} key`);
    return X509Svid.fromCertificates(parseCertificates(chainPem, where), key);
  }

  get leaf(): X509Certificate {
    return this.certificates[0]!;
  }

  get notBefore(): Date {
    return new Date(this.leaf.validFrom);
  }

  get notAfter(): Date {
    return new Date(this.leaf.validTo);
  }

  /** Leaf + intermediates, what a TLS endpoint sends (`cert` option of node:tls). */
  get chainPem(): string {
    return certificatesToPem(this.certificates);
  }

  /** Verifies this SVID against a verifier's roots; throws ChainUntrustedError with the reason. */
  verify(roots: readonly X509Certificate[], options: { now: Date; role: TlsRole; expectedId?: SpiffeIdMatcher }): SpiffeId {
    return verifySvidChain({ presented: this.certificates, roots, ...options });
  }
}
