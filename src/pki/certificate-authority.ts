// The CA hierarchy built with @peculiar/x509 (the "library path"): a root (ECDSA P-384
// or RSA-4096, 10 years), one intermediate per mesh or zone (CA, pathLen 0, optional URI
// name constraint to the trust domain), and X.509-SVID leaves. The CA hot path (many
// SVIDs from CSRs) has a faster twin in fast-svid-issuer.ts; both produce the same shape.

import { x509 } from "./x509-library.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from "@peculiar/asn1-x509";
import { X509Certificate, createPublicKey, webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { IdOutsideTrustDomainError, KeyUnsupportedError } from "../errors.js";
import { verifyCsr } from "./csr.js";
import type { CsrInput } from "./csr.js";
import { authorityKeyIdFor, keyIdentifier } from "./key-identifier.js";
import { describeKey, generateKeyPair, signingHashFor } from "./key-pair.js";
import type { KeyType, RootKeyType } from "./key-pair.js";
import { encodePem, isSelfSigned } from "./pem.js";
import { randomSerial } from "./serial.js";
import type { SpiffeId } from "./spiffe-id.js";
import type { TrustDomain } from "./trust-domain.js";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
export const YEAR_MS = 365 * DAY_MS;
export const DEFAULT_ROOT_TTL_MS = 10 * YEAR_MS;
export const DEFAULT_INTERMEDIATE_TTL_MS = YEAR_MS;
export const DEFAULT_SVID_TTL_MS = 24 * HOUR_MS;
/** Certificates start a little in the past so peers with a slightly slow clock accept them. */
export const BACKDATE_MS = 5 * 60_000;

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/** A CA certificate, its private key and the chain from it up to (and including) the root. */
export class CertificateAuthority {
  constructor(
    readonly certificate: X509Certificate,
    readonly privateKey: KeyObject,
    /** This CA first, the root last; a root's chain is just itself. */
    readonly chain: readonly X509Certificate[],
    readonly trustDomain: TrustDomain,
  ) {}

  get root(): X509Certificate {
    return this.chain[this.chain.length - 1]!;
  }

  get isRoot(): boolean {
    return this.chain.length === 1 && isSelfSigned(this.certificate);
  }

  get certificatePem(): string {
    return encodePem("CERTIFICATE", this.certificate.raw);
  }

  /** The chain as PEM (this CA first, root last), the Istio `cert-chain.pem`. */
  get chainPem(): string {
    return this.chain.map((c) => encodePem("CERTIFICATE", c.raw)).join("");
  }
}

export interface RootOptions {
  readonly trustDomain: TrustDomain;
  readonly keyType?: RootKeyType;
  readonly ttlMs?: number;
  readonly now?: Clock;
  /** Use an existing key (e.g. for tests that must not generate RSA-4096 twice). */
  readonly privateKey?: KeyObject;
}

export async function createRootCa(options: RootOptions): Promise<CertificateAuthority> {
  const now = (options.now ?? systemClock)();
  const privateKey = options.privateKey ?? generateKeyPair(options.keyType ?? "ec-p384").privateKey;
  const publicKey = createPublicKey(privateKey);
  const td = options.trustDomain;
  const spki = await toWebPublicKey(publicKey);
  const node = await signCertificate(privateKey, {
    subject: `O=meshgate, CN=${td.name} root CA`,
    issuer: `O=meshgate, CN=${td.name} root CA`,
    now,
    notAfter: now.getTime() + (options.ttlMs ?? DEFAULT_ROOT_TTL_MS),
    publicKey: spki,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(keyIdentifier(publicKey).toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(keyIdentifier(publicKey).toString("hex")),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: td.idString }], false),
    ],
  });
  return new CertificateAuthority(node, privateKey, [node], td);
}

export interface IntermediateOptions {
  /** The mesh or zone this intermediate serves; it names the certificate. */
  readonly mesh: string;
  readonly ttlMs?: number;
  readonly now?: Clock;
  /** Restrict the intermediate to URIs in its trust domain (RFC 5280 name constraint). Default true. */
  readonly nameConstraint?: boolean;
  readonly keyType?: KeyType;
  readonly privateKey?: KeyObject;
  /** The trust domain the intermediate serves; defaults to the parent's. */
  readonly trustDomain?: TrustDomain;
}

export async function createIntermediateCa(parent: CertificateAuthority, options: IntermediateOptions): Promise<CertificateAuthority> {
  const now = (options.now ?? systemClock)();
  const privateKey = options.privateKey ?? generateKeyPair(options.keyType ?? "ec-p256").privateKey;
  const spki = await toWebPublicKey(createPublicKey(privateKey));
  const td = options.trustDomain ?? parent.trustDomain;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    new x509.SubjectKeyIdentifierExtension(keyIdentifier(createPublicKey(privateKey)).toString("hex")),
    new x509.AuthorityKeyIdentifierExtension(authorityKeyIdFor(parent.certificate).toString("hex")),
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: td.idString }], false),
  ];
  if (options.nameConstraint ?? true) extensions.push(uriNameConstraint(td));
  const notAfter = Math.min(now.getTime() + (options.ttlMs ?? DEFAULT_INTERMEDIATE_TTL_MS), Date.parse(parent.certificate.validTo));
  const node = await signCertificate(parent.privateKey, {
    subject: `O=meshgate, OU=${escapeDn(options.mesh)}, CN=${escapeDn(options.mesh)} intermediate CA`,
    issuer: new x509.X509Certificate(parent.certificate.raw).subjectName,
    now,
    notAfter,
    publicKey: spki,
    extensions,
  });
  return new CertificateAuthority(node, privateKey, [node, ...parent.chain], td);
}

/** Name constraints: permitted URI subtree = the trust domain's host, critical per RFC 5280. */
function uriNameConstraint(td: TrustDomain): x509.Extension {
  const nc = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees([new GeneralSubtree({ base: new GeneralName({ uniformResourceIdentifier: td.name }) })]),
  });
  return new x509.Extension("2.5.29.30", true, AsnConvert.serialize(nc));
}

export interface SvidOptions {
  readonly spiffeId: SpiffeId;
  readonly dnsNames?: readonly string[];
  readonly ttlMs?: number;
  readonly now?: Clock;
}

export interface IssuedSvid {
  readonly certificate: X509Certificate;
  /** Leaf first, then the CA chain without the root (what a workload presents). */
  readonly chain: readonly X509Certificate[];
}

/** Library path: signs an X.509-SVID for a public key the caller already trusts. */
export async function issueWorkloadSvid(ca: CertificateAuthority, publicKey: KeyObject, options: SvidOptions): Promise<IssuedSvid> {
  if (!options.spiffeId.memberOf(ca.trustDomain)) {
    throw new IdOutsideTrustDomainError(options.spiffeId.toString(), ca.trustDomain.name);
  }
  const now = (options.now ?? systemClock)();
  const spki = publicKey.export({ type: "spki", format: "der" });
  const notAfter = Math.min(now.getTime() + (options.ttlMs ?? DEFAULT_SVID_TTL_MS), Date.parse(ca.certificate.validTo));
  const names: x509.JsonGeneralNames = [{ type: "url", value: options.spiffeId.toString() }];
  for (const dns of options.dnsNames ?? []) names.push({ type: "dns", value: dns });
  // Empty subject: the identity is the URI SAN alone, so the SAN must be critical.
  const leaf = await signCertificate(ca.privateKey, {
    subject: "",
    issuer: new x509.X509Certificate(ca.certificate.raw).subjectName,
    now,
    notAfter,
    publicKey: spki,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectKeyIdentifierExtension(keyIdentifier(publicKey).toString("hex")),
      new x509.AuthorityKeyIdentifierExtension(authorityKeyIdFor(ca.certificate).toString("hex")),
      new x509.SubjectAlternativeNameExtension(names, true),
    ],
  });
  return { certificate: leaf, chain: [leaf, ...ca.chain.slice(0, -1)] };
}

/** What every certificate of the library path shares: a fresh random serial, validity
 * back-dated for clock skew, and a signature by `signer` with the algorithm its key needs. */
async function signCertificate(
  signer: KeyObject,
  fields: {
    subject: string;
    issuer: x509.X509CertificateCreateParams["issuer"];
    now: Date;
    notAfter: number;
    publicKey: x509.X509CertificateCreateParams["publicKey"];
    extensions: x509.Extension[];
  },
): Promise<X509Certificate> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial().toString("hex"),
    subject: fields.subject,
    issuer: fields.issuer,
    notBefore: new Date(fields.now.getTime() - BACKDATE_MS),
    notAfter: new Date(fields.notAfter),
    publicKey: fields.publicKey,
    signingKey: await toWebSigningKey(signer),
    signingAlgorithm: webSigningAlgorithm(signer),
    extensions: fields.extensions,
  });
  return new X509Certificate(Buffer.from(cert.rawData));
}

/**
 * Library path from a CSR: the CSR's signature is verified (proof of possession); the
 * identity is `options.spiffeId`, which the caller has authenticated, never the CSR's SANs.
 */
export async function issueWorkloadSvidFromCsr(ca: CertificateAuthority, csr: CsrInput, options: SvidOptions): Promise<IssuedSvid> {
  const request = verifyCsr(csr);
  return issueWorkloadSvid(ca, request.publicKey, options);
}

// --- WebCrypto bridges (Node 20 has no KeyObject.toCryptoKey) -------------------------

async function toWebPublicKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey("spki", key.export({ type: "spki", format: "der" }), webImportAlgorithm(key), true, ["verify"]);
}

async function toWebSigningKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), webImportAlgorithm(key), false, ["sign"]);
}

function webImportAlgorithm(key: KeyObject): webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams {
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : curve === "secp521r1" ? "P-521" : undefined;
    if (namedCurve === undefined) throw new KeyUnsupportedError(describeKey(key));
    return { name: "ECDSA", namedCurve };
  }
  if (key.asymmetricKeyType === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  throw new KeyUnsupportedError(describeKey(key));
}

function webSigningAlgorithm(key: KeyObject): webcrypto.EcdsaParams | webcrypto.Algorithm {
  const hash = signingHashFor(key);
  return key.asymmetricKeyType === "ec" ? { name: "ECDSA", hash } : { name: "RSASSA-PKCS1-v1_5", hash };
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, "\\$1");
}
