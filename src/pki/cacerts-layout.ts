// CA material on disk. A root folder holds root-cert.pem + root-key.pem; an intermediate
// folder uses Istio's `cacerts` layout (ca-cert.pem, ca-key.pem, root-cert.pem,
// cert-chain.pem = ca-cert followed by its issuers up to the root), so the same folder can
// be given to istiod as its plug-in CA. Reading a folder checks it fully (key matches
// certificate, chain links verify, root is self-signed), which is also how a CA made
// elsewhere (openssl, another PKI) is imported: "bring your own CA".

import type { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CaLayoutInvalidError, KeyMismatchError } from "../errors.js";
import { CertificateAuthority } from "./certificate-authority.js";
import { certificateFacts } from "./certificate-facts.js";
import { describeCertificateName } from "./certificate-names.js";
import { trustDomainOf } from "./chain-verification.js";
import { keysMatch } from "./key-pair.js";
import { readPrivateKey, writePrivateKey, writePublicFile } from "./key-store.js";
import { encodePem, isSelfSigned, parseCertificates } from "./pem.js";
import { TrustDomain } from "./trust-domain.js";

export const ROOT_FILES = { cert: "root-cert.pem", key: "root-key.pem" } as const;
export const CACERTS_FILES = {
  caCert: "ca-cert.pem",
  caKey: "ca-key.pem",
  rootCert: "root-cert.pem",
  certChain: "cert-chain.pem",
} as const;

/**
 * Written only when the CA certificates carry no spiffe:// URI SAN (typical for a CA made
 * with openssl), so the folder still says which trust domain it serves. Istio ignores it.
 */
export const TRUST_DOMAIN_FILE = "trust-domain";

function writeTrustDomainIfNeeded(dir: string, ca: CertificateAuthority): void {
  if (ca.chain.every((c) => trustDomainOf(c) === undefined)) writePublicFile(join(dir, TRUST_DOMAIN_FILE), `${ca.trustDomain.name}\n`);
}

export function writeRootFolder(dir: string, root: CertificateAuthority, passphrase?: string): void {
  mkdirSync(dir, { recursive: true });
  writeTrustDomainIfNeeded(dir, root);
  writePrivateKey(join(dir, ROOT_FILES.key), root.privateKey, passphrase);
  writePublicFile(join(dir, ROOT_FILES.cert), root.certificatePem);
}

export function writeCacertsFolder(dir: string, ca: CertificateAuthority, passphrase?: string): void {
  mkdirSync(dir, { recursive: true });
  writeTrustDomainIfNeeded(dir, ca);
  writePrivateKey(join(dir, CACERTS_FILES.caKey), ca.privateKey, passphrase);
  writePublicFile(join(dir, CACERTS_FILES.caCert), ca.certificatePem);
  writePublicFile(join(dir, CACERTS_FILES.rootCert), encodePem("CERTIFICATE", ca.root.raw));
  writePublicFile(join(dir, CACERTS_FILES.certChain), ca.chainPem);
}

export interface ReadCaOptions {
  readonly passphrase?: string;
  /** Needed when the CA certificates carry no spiffe:// URI SAN (typical for openssl-made CAs). */
  readonly trustDomain?: TrustDomain;
}

/** Reads a root folder (root-cert.pem + root-key.pem) or a cacerts folder. */
export function readCaFolder(dir: string, options: ReadCaOptions = {}): CertificateAuthority {
  if (!existsSync(dir)) throw new CaLayoutInvalidError(dir, "no such directory");
  const tdFile = join(dir, TRUST_DOMAIN_FILE);
  if (options.trustDomain === undefined && existsSync(tdFile)) {
    options = { ...options, trustDomain: TrustDomain.parse(readFileSync(tdFile, "utf8").trim()) };
  }
  if (existsSync(join(dir, CACERTS_FILES.caCert))) return readCacertsFolder(dir, options);
  if (existsSync(join(dir, ROOT_FILES.key))) {
    return assembleCa(dir, {
      certPath: join(dir, ROOT_FILES.cert),
      keyPath: join(dir, ROOT_FILES.key),
      ...options,
    });
  }
  throw new CaLayoutInvalidError(dir, `neither a cacerts folder (${CACERTS_FILES.caCert}, ${CACERTS_FILES.caKey}, ...) nor a root folder (${ROOT_FILES.cert}, ${ROOT_FILES.key})`);
}

function readCacertsFolder(dir: string, options: ReadCaOptions): CertificateAuthority {
  for (const f of Object.values(CACERTS_FILES)) {
    if (!existsSync(join(dir, f))) throw new CaLayoutInvalidError(dir, `missing ${f} (a cacerts folder has ${Object.values(CACERTS_FILES).join(", ")})`);
  }
  return assembleCa(dir, {
    certPath: join(dir, CACERTS_FILES.caCert),
    keyPath: join(dir, CACERTS_FILES.caKey),
    chainPath: join(dir, CACERTS_FILES.certChain),
    rootPath: join(dir, CACERTS_FILES.rootCert),
    ...options,
  });
}

export interface CaFiles extends ReadCaOptions {
  readonly certPath: string;
  readonly keyPath: string;
  /** The CA certificate followed by its issuers; may end with the root. */
  readonly chainPath?: string;
  readonly rootPath?: string;
}

/** Loads and checks CA files from anywhere (used by folders and by `pki import`). */
export function assembleCa(where: string, files: CaFiles): CertificateAuthority {
  const fail = (reason: string): never => {
    throw new CaLayoutInvalidError(where, reason);
  };
  const read = (p: string): X509Certificate[] => parseCertificates(readFileSync(p, "utf8"), p);
  const [cert] = read(files.certPath);
  if (cert === undefined) return fail("no CA certificate");
  const key = readPrivateKey(files.keyPath, files.passphrase);
  if (!keysMatch(key, cert.publicKey)) throw new KeyMismatchError(files.certPath, files.keyPath);
  const facts = certificateFacts(cert);
  if (facts.basicConstraints?.ca !== true) fail(`${describeCertificateName(cert)} is not a CA certificate (CA:TRUE missing)`);
  if (facts.keyUsage !== undefined && !facts.keyUsage.includes("keyCertSign")) fail(`${describeCertificateName(cert)} key usage lacks keyCertSign`);

  // Chain: the CA first, then issuers; drop a leading copy of the CA itself.
  let chain: X509Certificate[] = files.chainPath ? read(files.chainPath) : [cert];
  if (!chain[0]!.raw.equals(cert.raw)) chain = [cert, ...chain];
  const roots = files.rootPath ? read(files.rootPath) : [];
  const last = chain[chain.length - 1]!;
  if (!isSelfSigned(last)) {
    const root = roots.find((r) => last.issuer === r.subject && last.verify(r.publicKey));
    if (root === undefined) fail(`the chain ends at ${describeCertificateName(last)}, whose issuer is not in ${files.rootPath ?? "the chain"}`);
    chain.push(root!);
  } else if (roots.length > 0 && !roots.some((r) => r.raw.equals(last.raw))) {
    fail(`the chain's root ${describeCertificateName(last)} is not the one in ${files.rootPath}`);
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!;
    const parent = chain[i + 1]!;
    if (child.issuer !== parent.subject || !child.verify(parent.publicKey)) {
      fail(`${describeCertificateName(child)} is not signed by the next certificate in the chain, ${describeCertificateName(parent)}`);
    }
  }
  const trustDomain = files.trustDomain ?? chain.map(trustDomainOf).find((td) => td !== undefined);
  if (trustDomain === undefined) fail("the CA certificates name no trust domain (no spiffe:// URI SAN); give --trust-domain");
  return new CertificateAuthority(cert, key, chain, trustDomain!);
}
