// mTLS to the control plane for `meshgate proxy --tls-cert --tls-key --tls-ca`. The files
// are read again on every connection attempt once they change, so an SVID renewed on disk
// (by `meshgate pki issue`, cert-manager, spiffe-helper, ...) is used from the next
// reconnect on without restarting the proxy. A TLS session already open stays valid when
// its certificate expires, so nothing needs to reconnect early. Files caught half-written,
// or a key that does not match, keep the last good credentials and say why.

import { createPrivateKey, type X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { UsageError } from "../errors.js";
import { checkChain, parseCertificates, trustDomainOf } from "../pki/index.js";
import type { Logger } from "../telemetry/logger.js";
import { spiffeIdsOf } from "../xds/ads-server.js";

export interface SvidFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

interface Loaded {
  readonly stamp: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly leaf: X509Certificate;
  /** Why the control plane will likely refuse this certificate, if it will. */
  readonly warning: string | undefined;
}

export class SvidFileCredentials {
  /** The TLS server name sent to the control plane (it is verified by SPIFFE ID, not by name). */
  readonly serverName = "control-plane.meshgate";
  #current: Loaded;
  #logger: Logger | undefined;

  /** Reads and checks the files; throws UsageError naming the flag when they are unusable. */
  constructor(private readonly files: SvidFiles) {
    this.#current = load(files, stampOf(files));
  }

  /** Why the first certificate will likely be refused (logged by the caller once the logger exists). */
  get warning(): string | undefined {
    return this.#current.warning;
  }

  set logger(logger: Logger) {
    this.#logger = logger;
  }

  /** The credentials for the next connection attempt: new ones if the files changed and are good. */
  readonly get = (): grpc.ChannelCredentials => {
    let stamp: string;
    try {
      stamp = stampOf(this.files);
    } catch (e) {
      this.#logger?.warn({ err: (e as Error).message }, "cannot read the xDS client certificate files; keeping the last good ones");
      return this.#current.credentials;
    }
    if (stamp === this.#current.stamp) return this.#current.credentials;
    try {
      const next = load(this.files, stamp);
      this.#current = next;
      this.#logger?.info({ serial: next.leaf.serialNumber, notAfter: next.leaf.validTo, subject: spiffeIdsOf(next.leaf.subjectAltName).join(",") }, "xDS client certificate reloaded");
      if (next.warning) this.#logger?.warn(next.warning);
    } catch (e) {
      // The stamp stays the old one, so the next attempt tries again: a later write may complete them.
      this.#logger?.warn({ err: (e as Error).message }, "the xDS client certificate files changed but are not usable; keeping the last good ones");
    }
    return this.#current.credentials;
  };
}

function stampOf(f: SvidFiles): string {
  return [f.cert, f.key, f.ca]
    .map((file) => {
      const s = statSync(file);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    })
    .join("|");
}

function load(f: SvidFiles, stamp: string): Loaded {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const pem = (flag: string, text: Buffer) => {
    try {
      return parseCertificates(text.toString("utf8"), flag);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  const cert = read("--tls-cert", f.cert);
  const key = read("--tls-key", f.key);
  const ca = read("--tls-ca", f.ca);
  const chain = pem("--tls-cert", cert);
  let matches: boolean;
  try {
    matches = chain[0]!.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new UsageError(`--tls-key: ${f.key} is not a usable private key: ${(e as Error).message}`);
  }
  if (!matches) throw new UsageError(`--tls-key: ${f.key} is not the key of the certificate in ${f.cert}`);
  const controlPlane = controlPlaneIdentity(chain);
  return {
    stamp,
    leaf: chain[0]!,
    warning: untrustedClientCertificate(chain, pem("--tls-ca", ca)),
    credentials: grpc.credentials.createSsl(ca, key, cert, {
      // The control plane's certificate is an SVID without a DNS name or IP address, so the
      // address dialled cannot be checked against it: check its SPIFFE ID instead (the
      // chain itself is verified against --tls-ca).
      checkServerIdentity: (_host, peer) => {
        const presented = spiffeIdsOf(peer.subjectaltname);
        if (presented.includes(controlPlane)) return undefined;
        return new Error(`the xDS server is not ${controlPlane}: its certificate presents ${presented.join(", ") || "no SPIFFE ID"}`);
      },
    }),
  };
}

/** `spiffe://<trust domain of this proxy's SVID>/meshgate/control-plane`: the identity `meshgate up`'s mTLS xDS port presents. */
function controlPlaneIdentity(chain: readonly X509Certificate[]): string {
  const td = trustDomainOf(chain[0]!)?.name;
  if (!td) throw new UsageError("--tls-cert: the certificate holds no spiffe:// URI SAN (issue the proxy's SVID with `meshgate pki issue`)");
  return `spiffe://${td}/meshgate/control-plane`;
}

/**
 * The control plane trusts the roots of its meshes, the bundle proxies are given as
 * --tls-ca. A certificate that does not verify against it is refused in the TLS handshake,
 * which the proxy only sees as "failed to connect": say why up front.
 */
function untrustedClientCertificate(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): string | undefined {
  const result = checkChain({ presented: chain, roots, role: "client", now: new Date() });
  if (result.ok) return undefined;
  return `--tls-cert does not verify against --tls-ca (${result.problems.map((p) => p.message).join("; ")}); the control plane will refuse the connection if it trusts the same roots`;
}
