// Fixtures for the listener tests: Envoy resources as the proxy receives them (encoded
// and decoded through the real protobuf types), certificates from the PKI, an echo
// handler, and clients (curl, raw sockets).

import { execFile } from "node:child_process";
import { createPublicKey } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import {
  createIntermediateCa,
  createRootCa,
  encodePem,
  generateKeyPair,
  issueWorkloadSvid,
  privateKeyToPem,
  SpiffeId,
  TrustDomain,
  type CertificateAuthority,
} from "../../../src/pki/index.js";
import type { DownstreamRequest, DownstreamResponse, EnvoyResource, FilterChainRef, RequestHandler } from "../../../src/proxy/contracts.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

/** Round-trips through protobuf, as the xDS client would hand it over. */
export function asReceived(kind: "listener" | "secret", value: Record<string, unknown>): EnvoyResource {
  return decodeResource(TYPE_URLS[kind], encodeResource(TYPE_URLS[kind], value));
}

export function hcm(statPrefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    "@type": HCM_TYPE,
    statPrefix,
    codecType: "AUTO",
    rds: { routeConfigName: statPrefix, configSource: { ads: {}, resourceApiVersion: "V3" } },
    httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    ...extra,
  };
}

export interface ChainSpec {
  name: string;
  serverNames?: string[];
  /** SDS secret names; none = plaintext chain. */
  certs?: string[];
  caSecret?: string;
  requireClientCert?: boolean;
  minVersion?: string;
  alpn?: string[];
  hcmExtra?: Record<string, unknown>;
}

export function chain(spec: ChainSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: spec.name,
    filterChainMatch: { transportProtocol: spec.certs ? "tls" : "raw_buffer", ...(spec.serverNames ? { serverNames: spec.serverNames } : {}) },
    filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: hcm(spec.name.replace(/\W/g, "_"), spec.hcmExtra) }],
  };
  if (spec.certs) {
    const sds = (name: string) => ({ name, sdsConfig: { ads: {}, resourceApiVersion: "V3" } });
    out.transportSocket = {
      name: "envoy.transport_sockets.tls",
      typedConfig: {
        "@type": TLS_TYPE,
        commonTlsContext: {
          alpnProtocols: spec.alpn ?? ["h2", "http/1.1"],
          tlsCertificateSdsSecretConfigs: spec.certs.map(sds),
          tlsParams: { tlsMinimumProtocolVersion: spec.minVersion ?? "TLSv1_2" },
          ...(spec.caSecret ? { validationContextSdsSecretConfig: sds(spec.caSecret) } : {}),
        },
        requireClientCertificate: { value: spec.requireClientCert ?? false },
      },
    };
  }
  return out;
}

export function listener(name: string, chains: Record<string, unknown>[], port = 0, host = "127.0.0.1"): EnvoyResource {
  return asReceived("listener", {
    name,
    address: { socketAddress: { address: host, portValue: port } },
    filterChains: chains,
    listenerFilters: [{ name: "envoy.filters.listener.tls_inspector", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }],
  });
}

export function mapOf(...resources: EnvoyResource[]): Map<string, EnvoyResource> {
  return new Map(resources.map((r) => [r.name as string, r]));
}

// ---- certificates ------------------------------------------------------------------

export interface Pki {
  root: CertificateAuthority;
  intermediate: CertificateAuthority;
  rootPem: string;
}

export async function makePki(trustDomain = "example.org"): Promise<Pki> {
  const root = await createRootCa({ trustDomain: TrustDomain.parse(trustDomain) });
  const intermediate = await createIntermediateCa(root, { mesh: "test" });
  return { root, intermediate, rootPem: root.certificatePem };
}

export interface Issued {
  chainPem: string;
  keyPem: string;
  serialNumber: string;
}

export async function issue(pki: Pki, spiffeId: string, dnsNames: string[] = []): Promise<Issued> {
  const { privateKey } = generateKeyPair("ec-p256");
  const svid = await issueWorkloadSvid(pki.intermediate, createPublicKey(privateKey), { spiffeId: SpiffeId.parse(spiffeId), dnsNames });
  return { chainPem: svid.chain.map((c) => encodePem("CERTIFICATE", c.raw)).join(""), keyPem: privateKeyToPem(privateKey), serialNumber: svid.certificate.serialNumber };
}

export function certSecret(name: string, cert: Issued): EnvoyResource {
  return asReceived("secret", { name, tlsCertificate: { certificateChain: { inlineString: cert.chainPem }, privateKey: { inlineString: cert.keyPem } } });
}

export function caSecret(name: string, pem: string): EnvoyResource {
  return asReceived("secret", { name, validationContext: { trustedCa: { inlineString: pem } } });
}

// ---- handler -----------------------------------------------------------------------

export interface Echo {
  protocol: string;
  method: string;
  scheme: string;
  authority: string;
  rawPath: string;
  headers: Record<string, unknown>;
  remoteAddress: string;
  localPort: number;
  tls?: { serverName?: string; peerSpiffeId?: string; peerSubjectAltName?: string; peerUriSans?: readonly string[]; peerCertificateHash?: string; localUriSans?: readonly string[] };
  listener: string;
  chain: string;
  statPrefix: unknown;
  body: string;
}

/** Answers every request with what it received, as JSON (after reading the body). */
export const echoHandler: RequestHandler = (req: DownstreamRequest, res: DownstreamResponse, ref: FilterChainRef) => {
  const chunks: Buffer[] = [];
  req.body.on("data", (c: Buffer) => chunks.push(c));
  req.body.on("end", () => {
    const echo: Echo = {
      protocol: req.protocol,
      method: req.method,
      scheme: req.scheme,
      authority: req.authority,
      rawPath: req.rawPath,
      headers: req.headers,
      remoteAddress: req.remoteAddress,
      localPort: req.localPort,
      ...(req.tls ? { tls: { ...req.tls } } : {}),
      listener: ref.listenerName,
      chain: ref.chainName,
      statPrefix: ref.hcm.statPrefix,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    const body = Buffer.from(JSON.stringify(echo));
    res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) });
    res.end(body);
  });
};

// ---- clients -----------------------------------------------------------------------

export function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "10", ...args], { encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Writes `data` on a fresh connection and returns everything read until the server closes (or `waitMs`). */
export function rawExchange(port: number, data: string | Buffer, waitMs = 2000): Promise<{ response: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let response = "";
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ response, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.setEncoding("latin1");
    s.on("data", (d: string) => (response += d));
    s.on("end", () => finish(true));
    s.on("close", () => finish(true));
    s.on("error", () => finish(true));
    s.write(data);
  });
}

/** TLS connect; resolves with the socket once the handshake completes, or rejects. */
export function tlsConnect(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ...options });
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
    s.once("close", () => reject(new Error("closed before the handshake completed")));
  });
}

export function portOf(bound: { name: string; port: number }[], name: string): number {
  const b = bound.find((x) => x.name === name);
  if (!b) throw new Error(`listener ${name} is not bound`);
  return b.port;
}
