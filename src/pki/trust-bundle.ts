// Trust bundles: the root certificates a verifier trusts, extracted from whatever the
// other side has (a chain PEM, an Istio cacerts folder, a Kubernetes `cacerts` Secret or
// `istio-ca-root-cert` ConfigMap) and written as PEM, as a SPIFFE bundle (JWKS with
// x5c, spiffe_sequence, spiffe_refresh_hint) or as a ConfigMap with `ca.crt` that a
// Gateway API BackendTLSPolicy can name in caCertificateRefs.

import type { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { BundleSourceError, UsageError } from "../errors.js";
import { trustDomainOf } from "./chain-verification.js";
import { certificatesToPem, decodePem, isSelfSigned, parseCertificates } from "./pem.js";
import type { TrustDomain } from "./trust-domain.js";

export type BundleFormat = "pem" | "spiffe" | "configmap";
export const BUNDLE_FORMATS: readonly BundleFormat[] = ["pem", "spiffe", "configmap"];

/** The SPIFFE bundle's refresh hint default, in seconds. */
export const DEFAULT_REFRESH_HINT_SECONDS = 300;

export class TrustBundle {
  readonly roots: readonly X509Certificate[];
  constructor(
    roots: readonly X509Certificate[],
    readonly trustDomain?: TrustDomain,
    readonly sequence = 1,
    readonly refreshHintSeconds = DEFAULT_REFRESH_HINT_SECONDS,
  ) {
    this.roots = Object.freeze(dedupe(roots));
    Object.freeze(this);
  }

  contains(cert: X509Certificate): boolean {
    return this.roots.some((r) => r.raw.equals(cert.raw));
  }

  /** A new bundle (next sequence number) with `root` added. */
  withRoot(root: X509Certificate): TrustBundle {
    return new TrustBundle([...this.roots, root], this.trustDomain, this.sequence + 1, this.refreshHintSeconds);
  }

  /** A new bundle (next sequence number) without `root`. */
  withoutRoot(root: X509Certificate): TrustBundle {
    return new TrustBundle(this.roots.filter((r) => !r.raw.equals(root.raw)), this.trustDomain, this.sequence + 1, this.refreshHintSeconds);
  }

  toPem(): string {
    return certificatesToPem(this.roots);
  }

  /** SPIFFE Trust Domain and Bundle format: a JWK Set whose keys carry `use: x509-svid`. */
  toSpiffeBundle(): SpiffeBundleDocument {
    return {
      keys: this.roots.map((root) => ({
        use: "x509-svid",
        ...(root.publicKey.export({ format: "jwk" }) as Record<string, string>),
        x5c: [root.raw.toString("base64")],
      })),
      spiffe_sequence: this.sequence,
      spiffe_refresh_hint: this.refreshHintSeconds,
    };
  }

  /** A ConfigMap with `ca.crt`, for BackendTLSPolicy `validation.caCertificateRefs`. */
  toConfigMap(name: string, namespace?: string): string {
    const metadata: Record<string, string> = { name };
    if (namespace !== undefined) metadata.namespace = namespace;
    return stringify({ apiVersion: "v1", kind: "ConfigMap", metadata, data: { "ca.crt": this.toPem() } });
  }

  render(format: BundleFormat, options: { name?: string; namespace?: string } = {}): string {
    switch (format) {
      case "pem":
        return this.toPem();
      case "spiffe":
        return `${JSON.stringify(this.toSpiffeBundle(), null, 2)}\n`;
      case "configmap":
        return this.toConfigMap(options.name ?? "meshgate-ca-root", options.namespace);
    }
  }
}

export interface SpiffeBundleDocument {
  keys: Array<Record<string, unknown>>;
  spiffe_sequence: number;
  spiffe_refresh_hint: number;
}

/**
 * Reads the roots from a bundle source. A directory is read as a cacerts (or root) folder;
 * a file with PEM blocks as a chain; anything else as Kubernetes YAML. Files named as
 * roots (`root-cert.pem`, `ca.crt`) count whole; from chains only self-signed
 * certificates are taken, since an intermediate is not a trust anchor.
 */
export function loadTrustBundle(path: string, trustDomain?: TrustDomain): TrustBundle {
  if (!existsSync(path)) throw new UsageError(`no such file or directory: ${path}`);
  const roots = statSync(path).isDirectory() ? rootsFromFolder(path) : rootsFromFile(path);
  if (roots.length === 0) {
    throw new BundleSourceError(path, "no root certificate found (a chain must include its self-signed root, e.g. root-cert.pem or cert-chain.pem)");
  }
  return new TrustBundle(roots, trustDomain ?? roots.map(trustDomainOf).find((td) => td !== undefined));
}

function rootsFromFolder(dir: string): X509Certificate[] {
  for (const name of ["root-cert.pem", "ca.crt"]) {
    const p = join(dir, name);
    if (existsSync(p)) return parseCertificates(readFileSync(p, "utf8"), p);
  }
  for (const name of ["cert-chain.pem", "ca-cert.pem"]) {
    const p = join(dir, name);
    if (existsSync(p)) return parseCertificates(readFileSync(p, "utf8"), p).filter(isSelfSigned);
  }
  throw new BundleSourceError(dir, "not a cacerts or root folder: none of root-cert.pem, ca.crt, cert-chain.pem, ca-cert.pem found");
}

function rootsFromFile(path: string): X509Certificate[] {
  const text = readFileSync(path, "utf8");
  if (decodePem(text).length > 0) return parseCertificates(text, path).filter(isSelfSigned);
  let docs;
  try {
    docs = parseAllDocuments(text);
  } catch {
    throw new BundleSourceError(path, "neither PEM nor YAML");
  }
  const roots: X509Certificate[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new BundleSourceError(path, `YAML error: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string>; stringData?: Record<string, string> } | null;
    if (obj === null || typeof obj !== "object") continue;
    const where = `${path} (${obj.kind ?? "?"} ${obj.metadata?.name ?? "?"})`;
    const entries: Record<string, string> = {};
    if (obj.kind === "Secret") {
      for (const [k, v] of Object.entries(obj.data ?? {})) entries[k] = Buffer.from(String(v), "base64").toString("utf8");
      for (const [k, v] of Object.entries(obj.stringData ?? {})) entries[k] = String(v);
    } else if (obj.kind === "ConfigMap") {
      for (const [k, v] of Object.entries(obj.data ?? {})) entries[k] = String(v);
    } else {
      continue;
    }
    for (const key of ["root-cert.pem", "ca.crt"]) {
      if (entries[key] !== undefined) roots.push(...parseCertificates(entries[key], `${where} ${key}`));
    }
    for (const key of ["cert-chain.pem", "ca-cert.pem"]) {
      if (entries[key] !== undefined) roots.push(...parseCertificates(entries[key], `${where} ${key}`).filter(isSelfSigned));
    }
  }
  return roots;
}

function dedupe(certs: readonly X509Certificate[]): X509Certificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => (seen.has(c.fingerprint256) ? false : (seen.add(c.fingerprint256), true)));
}
