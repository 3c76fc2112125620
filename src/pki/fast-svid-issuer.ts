// The CA hot path: X.509-SVIDs from CSRs, thousands per second on one core.
//
// Why hand-written: issuing through @peculiar/x509 measured ~160-400 certificates/s on
// one core, because its ASN.1 object model costs 2.5-6 ms per certificate, while a raw
// P-256 signature costs well under 0.1 ms (bench/pki, docs/benchmarks.md). So this issuer
// keeps everything that is the same for every leaf of a CA as ready-made DER (issuer
// name, signature algorithm, basicConstraints, keyUsage, extKeyUsage, AKI) and per
// certificate only encodes serial, validity, SPKI, SKI and SANs, then signs the
// TBSCertificate with node:crypto and a cached KeyObject. The certificates have the same
// shape as the library path's (certificate-authority.ts); tests check both with openssl.
//
// Nothing insecure is cached: every CSR signature is verified, every public key is
// imported (and so validated) afresh, every serial is fresh randomness.

import { createHash, sign } from "node:crypto";
import type { KeyObject, X509Certificate } from "node:crypto";
import { IdOutsideTrustDomainError, KeyUnsupportedError } from "../errors.js";
import { BACKDATE_MS, DEFAULT_SVID_TTL_MS, systemClock } from "./certificate-authority.js";
import type { CertificateAuthority, Clock } from "./certificate-authority.js";
import { verifyCsr } from "./csr.js";
import type { CsrInput } from "./csr.js";
import { TAG, bytesOf, children, encodeTime, readWhole, tlv } from "./der.js";
import { checkDnsName } from "./dns-name.js";
import { authorityKeyIdFor } from "./key-identifier.js";
import { encodePem } from "./pem.js";
import { randomSerial } from "./serial.js";
import type { SpiffeId } from "./spiffe-id.js";
import type { TrustDomain } from "./trust-domain.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

const VERSION_V3 = hex("a003 020102");
const EMPTY_SUBJECT = hex("3000");
const TRUE = hex("0101ff");
const OID_BASIC_CONSTRAINTS = hex("0603551d13");
const OID_KEY_USAGE = hex("0603551d0f");
const OID_EXT_KEY_USAGE = hex("0603551d25");
const OID_SUBJECT_KEY_ID = hex("0603551d0e");
const OID_AUTHORITY_KEY_ID = hex("0603551d23");
const OID_SUBJECT_ALT_NAME = hex("0603551d11");
const ALG_ECDSA_SHA256 = hex("300a 0608 2a8648ce3d040302");
const ALG_ECDSA_SHA384 = hex("300a 0608 2a8648ce3d040303");
const ALG_RSA_SHA256 = hex("300d 0609 2a864886f70d01010b 0500");

const extension = (oid: Buffer, critical: boolean, value: Buffer): Buffer =>
  critical ? tlv(TAG.SEQUENCE, oid, TRUE, tlv(TAG.OCTET_STRING, value)) : tlv(TAG.SEQUENCE, oid, tlv(TAG.OCTET_STRING, value));

// CA:FALSE (empty BasicConstraints), critical.
const EXT_BASIC_CONSTRAINTS = extension(OID_BASIC_CONSTRAINTS, true, hex("3000"));
// keyUsage digitalSignature only (bit 0; 7 unused bits), critical.
const EXT_KEY_USAGE = extension(OID_KEY_USAGE, true, hex("03020780"));
// extKeyUsage serverAuth + clientAuth: SVIDs are used on both ends of mTLS.
const EXT_EXT_KEY_USAGE = extension(OID_EXT_KEY_USAGE, false, hex("3014 06082b06010505070301 06082b06010505070302"));

export interface FastIssueOptions {
  readonly dnsNames?: readonly string[];
  readonly ttlMs?: number;
  readonly now?: Clock;
}

export interface FastIssuedSvid {
  readonly der: Buffer;
  readonly certificatePem: string;
  /** Leaf + the CA chain without the root: what the workload presents. */
  readonly chainPem: string;
  /** The certificate's notAfter as encoded (whole seconds; never after the CA's). */
  readonly notAfter: Date;
}

export class FastSvidIssuer {
  private readonly issuerName: Buffer;
  private readonly signatureAlgorithm: Buffer;
  private readonly hash: "sha256" | "sha384";
  private readonly fixedExtensions: Buffer;
  private readonly caNotAfter: number;
  private readonly caChainPem: string;
  /** Kept as a KeyObject so OpenSSL does not re-parse the key for every signature. */
  private readonly signingKey: KeyObject;
  readonly trustDomain: TrustDomain;

  constructor(
    ca: Pick<CertificateAuthority, "certificate" | "privateKey" | "chain" | "trustDomain">,
    private readonly now: Clock = systemClock,
  ) {
    this.trustDomain = ca.trustDomain;
    this.issuerName = subjectNameDer(ca.certificate);
    const key = ca.privateKey;
    this.signingKey = key;
    if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") {
      [this.signatureAlgorithm, this.hash] = [ALG_ECDSA_SHA256, "sha256"];
    } else if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "secp384r1") {
      [this.signatureAlgorithm, this.hash] = [ALG_ECDSA_SHA384, "sha384"];
    } else if (key.asymmetricKeyType === "rsa") {
      [this.signatureAlgorithm, this.hash] = [ALG_RSA_SHA256, "sha256"];
    } else {
      throw new KeyUnsupportedError("the fast issuer signs with ECDSA P-256/P-384 or RSA CA keys");
    }
    const aki = extension(OID_AUTHORITY_KEY_ID, false, tlv(TAG.SEQUENCE, tlv(0x80, authorityKeyIdFor(ca.certificate))));
    this.fixedExtensions = Buffer.concat([EXT_BASIC_CONSTRAINTS, EXT_KEY_USAGE, EXT_EXT_KEY_USAGE, aki]);
    this.caNotAfter = Date.parse(ca.certificate.validTo);
    this.caChainPem = ca.chain
      .slice(0, -1)
      .map((c) => encodePem("CERTIFICATE", c.raw))
      .join("");
  }

  /** Verifies the CSR, then certifies its key for `spiffeId` (authenticated by the caller). */
  issueFromCsr(csr: CsrInput, spiffeId: SpiffeId, options: FastIssueOptions = {}): FastIssuedSvid {
    if (!spiffeId.memberOf(this.trustDomain)) throw new IdOutsideTrustDomainError(spiffeId.toString(), this.trustDomain.name);
    const request = verifyCsr(csr);
    const { der, notAfter } = this.sign(request.spki, spiffeId, options);
    const certificatePem = encodePem("CERTIFICATE", der);
    return { der, certificatePem, chainPem: certificatePem + this.caChainPem, notAfter };
  }

  /** For a key the caller generated itself (no CSR needed, e.g. `meshgate pki issue`). */
  issueForKey(publicKey: KeyObject, spiffeId: SpiffeId, options: FastIssueOptions = {}): FastIssuedSvid {
    if (!spiffeId.memberOf(this.trustDomain)) throw new IdOutsideTrustDomainError(spiffeId.toString(), this.trustDomain.name);
    const { der, notAfter } = this.sign(publicKey.export({ type: "spki", format: "der" }), spiffeId, options);
    const certificatePem = encodePem("CERTIFICATE", der);
    return { der, certificatePem, chainPem: certificatePem + this.caChainPem, notAfter };
  }

  private sign(spki: Buffer, spiffeId: SpiffeId, options: FastIssueOptions): { der: Buffer; notAfter: Date } {
    const now = (options.now ?? this.now)().getTime();
    const notAfter = Math.min(now + (options.ttlMs ?? DEFAULT_SVID_TTL_MS), this.caNotAfter);
    const names = [tlv(0x86, Buffer.from(spiffeId.toString(), "latin1"))];
    for (const dns of options.dnsNames ?? []) names.push(tlv(0x82, Buffer.from(checkDnsName(dns), "latin1")));
    // SKI: SHA-1 over the subjectPublicKey bits. For the key types verifyCsr accepts the
    // BIT STRING is the SPKI's second child; read it rather than trust fixed offsets.
    const bits = children(spki, readWhole(spki))[1]!;
    const ski = createHash("sha1").update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
    const tbs = tlv(
      TAG.SEQUENCE,
      VERSION_V3,
      tlv(TAG.INTEGER, randomSerial()),
      this.signatureAlgorithm,
      this.issuerName,
      tlv(TAG.SEQUENCE, encodeTime(new Date(now - BACKDATE_MS)), encodeTime(new Date(notAfter))),
      EMPTY_SUBJECT,
      spki,
      tlv(
        0xa3,
        tlv(
          TAG.SEQUENCE,
          this.fixedExtensions,
          extension(OID_SUBJECT_KEY_ID, false, tlv(TAG.OCTET_STRING, ski)),
          // The subject is empty, so RFC 5280 requires the SAN to be critical.
          extension(OID_SUBJECT_ALT_NAME, true, tlv(TAG.SEQUENCE, ...names)),
        ),
      ),
    );
    const signature = sign(this.hash, tbs, this.signingKey);
    const der = tlv(TAG.SEQUENCE, tbs, this.signatureAlgorithm, tlv(TAG.BIT_STRING, Buffer.from([0]), signature));
    // X.509 times hold whole seconds: the encoded notAfter is the one that counts.
    return { der, notAfter: new Date(notAfter - (notAfter % 1000)) };
  }
}

/** The DER of a certificate's subject Name, exactly as encoded (it becomes the issuer). */
function subjectNameDer(cert: X509Certificate): Buffer {
  const der = cert.raw;
  const tbs = children(der, readWhole(der))[0]!;
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject || subject.tag !== TAG.SEQUENCE) throw new Error("certificate has no subject");
  return Buffer.from(bytesOf(der, subject));
}
