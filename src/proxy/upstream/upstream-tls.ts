// UpstreamTlsContext + SDS secrets -> the options every new upstream TLS connection of a
// cluster uses. Built (and the key material parsed) when a configuration is applied, so
// a bad certificate is refused with the update instead of failing connections later.
//
// Server verification follows Envoy: the chain is verified against the validation
// context's CA; the certificate must then match one of the SAN matchers when any are
// given, and otherwise the SNI name when one is sent; with neither, no name is checked.

import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import type { PeerCertificate } from "node:tls";
import { dataSource, validationContextFields, type UpstreamTlsSpec } from "./cluster-config.js";
import { ConfigPath, object, UPSTREAM_RESOURCE, type Obj } from "../config-reader.js";
import { checkSans, type SanMatcher } from "./san-matcher.js";
import type { EnvoyResource } from "../contracts.js";

/** The CA bundle path the translator names for public servers (JWKS). */
const SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

export interface UpstreamTlsSettings {
  /** Changes whenever anything that shapes a connection changes (pools are kept while it does not). */
  readonly fingerprint: string;
  readonly servername?: string;
  readonly alpn: readonly string[];
  readonly secureContext: tls.SecureContext;
  /** False when the resource gives no validation context (Envoy then verifies nothing). */
  readonly verify: boolean;
  checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined;
}

/** Raised by checkServerIdentity; the message is the whole reason. */
export class PeerIdentityError extends Error {
  readonly peerIdentity = true;
}

/** The secrets a TLS spec needs that have not been received (yet). */
export function missingSecrets(spec: UpstreamTlsSpec, secrets: ReadonlyMap<string, EnvoyResource>): string[] {
  const out: string[] = [];
  if (spec.clientCertificate && "sds" in spec.clientCertificate && !secrets.has(spec.clientCertificate.sds)) out.push(spec.clientCertificate.sds);
  if (spec.validation && "sds" in spec.validation.ca && !secrets.has(spec.validation.ca.sds)) out.push(spec.validation.ca.sds);
  return out;
}

/** Builds the settings; every secret must be present (see missingSecrets). Throws ProxyConfigRejectedError. */
export function buildUpstreamTls(clusterName: string, spec: UpstreamTlsSpec, http2: boolean, secrets: ReadonlyMap<string, EnvoyResource>): UpstreamTlsSettings {
  const where = new ConfigPath(UPSTREAM_RESOURCE, `cluster ${JSON.stringify(clusterName)}`, "transportSocket.typedConfig.commonTlsContext");
  let chain: string | undefined;
  let key: string | undefined;
  const cc = spec.clientCertificate;
  if (cc && "sds" in cc) {
    const s = certificateSecret(cc.sds, secrets.get(cc.sds)!);
    chain = s.chain;
    key = s.key;
  } else if (cc) {
    chain = readMaterial(cc.chain, where.at("tlsCertificates").at(0).at("certificateChain"));
    key = readMaterial(cc.key, where.at("tlsCertificates").at(0).at("privateKey"));
  }
  let ca: string | undefined;
  let sans: readonly SanMatcher[] = [];
  if (spec.validation) {
    const v = spec.validation;
    if ("sds" in v.ca) {
      const s = validationSecret(v.ca.sds, secrets.get(v.ca.sds)!);
      ca = s.ca;
      // A validation secret's own SAN matchers add to the cluster's (Envoy merges them).
      sans = [...v.sans, ...s.sans];
    } else {
      ca = readMaterial((v.ca as { inline: string }).inline, where.at("validationContext").at("trustedCa"));
      sans = v.sans;
    }
  }
  let secureContext: tls.SecureContext | undefined;
  try {
    // OpenSSL skips CA blocks it cannot parse; a bundle that trusts nothing must be refused.
    if (ca !== undefined) checkCertificates(ca, "trusted CA");
    if (chain !== undefined) checkCertificates(chain, "certificate chain");
    secureContext = tls.createSecureContext({ ...(ca !== undefined ? { ca } : {}), ...(chain !== undefined ? { cert: chain, key } : {}) });
  } catch (e) {
    const source = cc && "sds" in cc ? `client certificate secret ${JSON.stringify(cc.sds)}` : spec.validation && "sds" in spec.validation.ca ? `validation secret ${JSON.stringify(spec.validation.ca.sds)}` : "inline TLS material";
    where.fail(`${source} is unusable: ${(e as Error).message}`);
  }
  const sni = spec.sni;
  const matchers = sans;
  const verify = spec.validation !== undefined;
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    if (!verify) return undefined;
    if (matchers.length > 0) {
      const reason = checkSans(cert, matchers);
      return reason === undefined ? undefined : new PeerIdentityError(reason);
    }
    if (sni === undefined) return undefined;
    const err = tls.checkServerIdentity(sni, cert);
    return err === undefined ? undefined : new PeerIdentityError(`certificate does not match the SNI name ${sni}: ${err.message}`);
  };
  const alpn = spec.alpn.length > 0 ? spec.alpn : [];
  const fingerprint = createHash("sha256")
    .update(JSON.stringify([sni ?? null, alpn, http2, chain ?? null, key ?? null, ca ?? null, verify, matchers.map((m) => `${m.type}:${m.description}`)]))
    .digest("base64url");
  return { fingerprint, ...(sni ? { servername: sni } : {}), alpn, secureContext: secureContext!, verify, checkServerIdentity };
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** PEM texts already checked (the same bundles come back with every update). */
const checked = new Set<string>();

function checkCertificates(pem: string, what: string): void {
  if (checked.has(pem)) return;
  const blocks = pem.match(CERT_BLOCK);
  if (!blocks) throw new Error(`the ${what} holds no PEM certificate`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new Error(`the ${what} holds a certificate that does not parse (${(e as Error).message})`);
    }
  }
  if (checked.size > 256) checked.clear();
  checked.add(pem);
}

function readMaterial(text: string, where: ConfigPath): string {
  if (!text.startsWith("file:")) return text;
  const path = text.slice(5);
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    // The system bundle's path differs between hosts; Node's own copy of the public
    // roots is the same trust where the file is absent.
    if (path === SYSTEM_CA_FILE) return tls.rootCertificates.join("\n");
    where.fail(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function certificateSecret(name: string, secret: Obj): { chain: string; key: string } {
  const where = new ConfigPath(UPSTREAM_RESOURCE, `secret ${JSON.stringify(name)}`, "");
  const s = object(secret, where, ["name", "tlsCertificate"]);
  if (s.tlsCertificate === undefined) where.at("tlsCertificate").fail("the secret is used as a client certificate but holds none");
  const tw = where.at("tlsCertificate");
  const t = object(s.tlsCertificate, tw, ["certificateChain", "privateKey"]);
  return { chain: readMaterial(dataSource(t.certificateChain, tw.at("certificateChain")), tw.at("certificateChain")), key: readMaterial(dataSource(t.privateKey, tw.at("privateKey")), tw.at("privateKey")) };
}

function validationSecret(name: string, secret: Obj): { ca: string; sans: SanMatcher[] } {
  const where = new ConfigPath(UPSTREAM_RESOURCE, `secret ${JSON.stringify(name)}`, "");
  const s = object(secret, where, ["name", "validationContext"]);
  if (s.validationContext === undefined) where.at("validationContext").fail("the secret is used as a validation context but holds none");
  const v = validationContextFields(s.validationContext, where.at("validationContext"), true);
  return { ca: readMaterial(v.ca!, where.at("validationContext").at("trustedCa")), sans: v.sans };
}

