// Real backend servers for end-to-end tests: each answers with JSON describing the request
// it received (which backend, method, path, headers, body), so tests can check routing,
// rewrites and header changes from the outside. Optional TLS (with a required client
// certificate) and HTTP/2.

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { TestContext } from "node:test";

export interface EchoRequest {
  readonly backend: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The client certificate's URI SAN, when TLS asked for one. */
  readonly peer?: string;
}

export interface EchoBackend {
  readonly name: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: EchoRequest[];
  /** Number of TCP connections accepted so far. */
  connections: number;
  /** Replace how requests are answered (default: 200 with the EchoRequest as JSON). */
  handler: (req: IncomingMessage, res: ServerResponse, echo: EchoRequest) => void;
  close(): Promise<void>;
}

export interface EchoOptions {
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string; readonly requestCert?: boolean };
}

const defaultHandler = (_req: IncomingMessage, res: ServerResponse, echo: EchoRequest) => {
  res.writeHead(200, { "content-type": "application/json", "x-backend": echo.backend });
  res.end(JSON.stringify(echo));
};

export async function startEcho(t: TestContext | undefined, name: string, opts: EchoOptions = {}): Promise<EchoBackend> {
  const backend: EchoBackend = {
    name,
    port: 0,
    requests: [],
    connections: 0,
    handler: defaultHandler,
    close: async () => {},
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const sock = req.socket as TLSSocket;
      const peerCert = typeof sock.getPeerCertificate === "function" ? sock.getPeerCertificate() : undefined;
      const peer = peerCert?.subjectaltname?.split(", ").find((s) => s.startsWith("URI:"))?.slice(4);
      const echo: EchoRequest = { backend: name, method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), ...(peer ? { peer } : {}) };
      backend.requests.push(echo);
      backend.handler(req, res, echo);
    });
  };
  const server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, ...(opts.tls.ca ? { ca: opts.tls.ca } : {}), requestCert: opts.tls.requestCert ?? false, rejectUnauthorized: opts.tls.requestCert ?? false }, onRequest)
    : createHttpServer(onRequest);
  server.on(opts.tls ? "secureConnection" : "connection", () => backend.connections++);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  (backend as { port: number }).port = (server.address() as AddressInfo).port;
  backend.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  t?.after(() => backend.close());
  return backend;
}

/** A Service with one port and an EndpointSlice pointing at the given backends. */
export function serviceYaml(namespace: string, name: string, port: number, backends: readonly { port: number }[]): string {
  // One EndpointSlice per backend port: an EndpointSlice has one port list for all its endpoints.
  const slices = backends
    .map(
      (b, i) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-${i}, namespace: ${namespace}, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: ${b.port} }]
endpoints: [{ addresses: [127.0.0.1] }]
`,
    )
    .join("");
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec: { ports: [{ name: http, port: ${port} }] }
${slices}`;
}
