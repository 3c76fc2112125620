// Shared fixtures for the upstream tests: real backends that count their connections,
// cluster and endpoint resources built by the xDS resource builders and round-tripped
// through the protobuf encoding (so the shapes are exactly what the proxy receives), and
// a sink that collects one response.

import { once } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { IrCluster, IrEndpoint } from "../../../src/ir/index.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { clusterResource } from "../../../src/xds/resources/cluster.js";
import { clusterLoadAssignment } from "../../../src/xds/resources/cluster-load-assignment.js";
import type { EnvoyResource, ForwardOptions, HeaderMap, UpstreamCluster, UpstreamError, UpstreamRequest } from "../../../src/proxy/contracts.js";
import { createIntermediateCa, createRootCa, createCsr, FastSvidIssuer, generateKeyPair, privateKeyToPem, SpiffeId, TrustDomain } from "../../../src/pki/index.js";

type T = { after: (fn: () => unknown) => void };

export interface Backend {
  readonly port: number;
  readonly address: string;
  /** Requests served. */
  hits: number;
  /** TCP connections accepted. */
  connections: number;
  readonly server: http.Server | https.Server;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, backend: Backend) => void;

const ok: Handler = (_req, res, b) => {
  res.setHeader("x-backend", String(b.port));
  res.end(`hello from ${b.port}`);
};

export async function startBackend(t: T, handler: Handler = ok, options?: https.ServerOptions): Promise<Backend> {
  const sockets = new Set<Socket>();
  // eslint-disable-next-line prefer-const
  let backend: Backend;
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    backend.hits++;
    handler(req, res, backend);
  };
  const server = options ? https.createServer(options, listener) : http.createServer(listener);
  server.keepAliveTimeout = 30_000;
  server.on(options ? "secureConnection" : "connection", (s: Socket) => {
    backend.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  backend = {
    port,
    address: "127.0.0.1",
    hits: 0,
    connections: 0,
    server,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  t.after(() => backend.close());
  return backend;
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function roundTrip(kind: keyof typeof TYPE_URLS, value: Record<string, unknown>): EnvoyResource {
  return decodeResource(TYPE_URLS[kind], encodeResource(TYPE_URLS[kind], value));
}

export function endpoint(port: number, over: Partial<IrEndpoint> = {}): IrEndpoint {
  return { address: "127.0.0.1", port, healthy: true, ...over };
}

export function irCluster(name: string, over: Partial<IrCluster> = {}): IrCluster {
  return { name, endpoints: [], protocol: "http1", connectTimeoutMs: 1000, loadBalancer: "ROUND_ROBIN", ...over };
}

/** The Cluster and (for EDS) ClusterLoadAssignment resources of an IR cluster, as a proxy decodes them. */
export function resources(c: IrCluster): { cluster: EnvoyResource; endpoints: EnvoyResource } {
  return { cluster: roundTrip("cluster", clusterResource(c)), endpoints: roundTrip("endpoint", clusterLoadAssignment(c)) };
}

/** Maps for ClusterManager.apply from IR clusters (plus secrets). */
export function config(clusters: IrCluster[], secrets: EnvoyResource[] = []): [Map<string, EnvoyResource>, Map<string, EnvoyResource>, Map<string, EnvoyResource>] {
  const cs = new Map<string, EnvoyResource>();
  const es = new Map<string, EnvoyResource>();
  for (const c of clusters) {
    const r = resources(c);
    cs.set(c.name, r.cluster);
    if ((c.discovery ?? "eds") === "eds") es.set(c.name, r.endpoints);
  }
  return [cs, es, new Map(secrets.map((s) => [s.name as string, s]))];
}

export function certificateSecret(name: string, chainPem: string, keyPem: string): EnvoyResource {
  return roundTrip("secret", { name, tlsCertificate: { certificateChain: { inlineString: chainPem }, privateKey: { inlineString: keyPem } } });
}

export function caSecret(name: string, pem: string): EnvoyResource {
  return roundTrip("secret", { name, validationContext: { trustedCa: { inlineString: pem } } });
}

export interface Outcome {
  status?: number;
  headers?: HeaderMap;
  body: string;
  trailers?: HeaderMap;
  error?: UpstreamError;
  /** How many times onHeaders was called (must be at most 1). */
  headerCalls: number;
}

export function request(path = "/", over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: "GET", path, headers: { host: "backend.test" }, body: null, ...over };
}

/** Forwards one request and collects what the sink receives. */
export function send(cluster: UpstreamCluster, req: UpstreamRequest = request(), options: ForwardOptions = { timeoutMs: 5000 }): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: "", headerCalls: 0 };
    const chunks: Buffer[] = [];
    cluster.forward(req, {
      onHeaders(status, headers) {
        out.headerCalls++;
        out.status = status;
        out.headers = headers;
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        return true;
      },
      onComplete(trailers) {
        out.body = Buffer.concat(chunks).toString();
        out.trailers = trailers;
        resolve(out);
      },
      onError(error) {
        out.body = Buffer.concat(chunks).toString();
        out.error = error;
        resolve(out);
      },
    }, options);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A root, an intermediate and SVIDs under trust domain `td`. */
export async function meshPki(td = "mesh.test") {
  const root = await createRootCa({ trustDomain: TrustDomain.parse(td) });
  const intermediate = await createIntermediateCa(root, { mesh: "default" });
  const issuer = new FastSvidIssuer(intermediate);
  return {
    rootPem: root.certificatePem,
    async svid(id: string, dnsNames: string[] = []): Promise<{ chainPem: string; keyPem: string }> {
      const { privateKey } = generateKeyPair("ec-p256");
      const out = issuer.issueFromCsr(await createCsr(privateKey), SpiffeId.parse(id), { dnsNames });
      return { chainPem: out.chainPem, keyPem: privateKeyToPem(privateKey) };
    },
  };
}

/** Collects warn-level log lines (a minimal pino-compatible logger). */
export function captureLogger(): { logger: any; lines: string[] } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const lines: string[] = [];
  const log = (_obj: unknown, msg?: string) => void lines.push(String(msg ?? _obj));
  const logger = { warn: log, info: () => {}, debug: () => {}, error: log, trace: () => {}, fatal: log, child: () => logger };
  return { logger, lines };
}
