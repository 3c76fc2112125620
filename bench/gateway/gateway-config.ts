// The configuration meshgate's gateway is benchmarked with: a "full-featured" gateway,
// i.e. routing and policies on, doing the same job as the nginx and haproxy configs in
// conf/ — HTTP in -> HTTP out, and TLS in (HTTP/1.1 or HTTP/2 by ALPN) -> mTLS out to a
// backend that requires a client certificate.
//
// Resources (namespace `bench`): a GatewayClass of meshgate's controller; a Gateway bound to
// one loopback address with an HTTP and an HTTPS listener (the gateway certificate from
// the harness PKI as a kubernetes.io/tls Secret) and a client certificate for backend TLS;
// two Services with EndpointSlices pointing at the backend nginx (plain and mTLS ports);
// a BackendTLSPolicy (root CA from a ConfigMap, hostname backend.test.local) on the mTLS one;
// one HTTPRoute per listener with several rules and a RequestHeaderModifier on the rule the
// load hits; a local rate limit far above any reachable rate, so the filter runs on every
// request without ever refusing one.
//
// Usage (what run.sh does):
//   node --import tsx bench/gateway/gateway-config.ts --pki DIR --out DIR \
//     --http-port N --https-port N --backend-http-port N --backend-mtls-port N [--address 127.0.0.1]

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { portArg, writeConfigFiles, yamlFile, type Doc } from "../lib/config-files.js";

export const NAMESPACE = "bench";
export const GATEWAY_NAME = "bench-gw";
export const BACKEND_HOSTNAME = "backend.test.local";
/** Header the routes set on every forwarded request (the nginx and haproxy configs set the same). */
export const ROUTE_HEADER = { name: "x-gateway", value: "bench" } as const;
/** Local rate limit per second: ~10x what one core can forward, so it counts but never refuses. */
export const RATE_LIMIT_PER_SECOND = 1_000_000;

export interface BenchPki {
  /** Root CA the backend's certificate chains to (PEM). */
  rootCa: string;
  /** Gateway server certificate, leaf + intermediate (PEM), and its key. */
  gatewayChain: string;
  gatewayKey: string;
  /** Client certificate the gateway presents to the backend, leaf + intermediate, and its key. */
  clientChain: string;
  clientKey: string;
}

export interface GatewayBenchOptions {
  pki: BenchPki;
  /** The Gateway's spec.addresses: where its listeners bind. */
  address: string;
  httpPort: number;
  httpsPort: number;
  /** The backend (on 127.0.0.1): plain HTTP, and HTTPS that requires a client certificate. */
  backendHttpPort: number;
  backendMtlsPort: number;
}

/** Reads the files pki.sh writes. */
export function readBenchPki(dir: string): BenchPki {
  const r = (f: string) => readFileSync(join(dir, f), "utf8");
  return { rootCa: r("root.crt"), gatewayChain: r("gateway-chain.crt"), gatewayKey: r("gateway.key"), clientChain: r("client-chain.crt"), clientKey: r("client.key") };
}

const meta = (name: string, extra: Doc = {}) => ({ name, namespace: NAMESPACE, ...extra });
const GW = "gateway.networking.k8s.io/v1";

function tlsSecret(name: string, chain: string, key: string): Doc {
  return { apiVersion: "v1", kind: "Secret", metadata: meta(name), type: "kubernetes.io/tls", stringData: { "tls.crt": chain, "tls.key": key } };
}

function backend(name: string, port: number): Doc[] {
  return [
    { apiVersion: "v1", kind: "Service", metadata: meta(name), spec: { ports: [{ name: "http", port }] } },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: meta(`${name}-1`, { labels: { "kubernetes.io/service-name": name } }),
      addressType: "IPv4",
      ports: [{ name: "http", port }],
      endpoints: [{ addresses: ["127.0.0.1"] }],
    },
  ];
}

/**
 * One listener's route: a header-gated debug path, an exact health path, then the
 * catch-all the load generator hits, which rewrites headers on the way to the backend.
 */
function route(name: string, listener: string, service: string, port: number): Doc {
  const ref = [{ name: service, port }];
  return {
    apiVersion: GW,
    kind: "HTTPRoute",
    metadata: meta(name),
    spec: {
      parentRefs: [{ name: GATEWAY_NAME, sectionName: listener }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/debug" }, headers: [{ name: "x-debug", value: "1" }] }],
          filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x-debug-route", value: name }] } }],
          backendRefs: ref,
        },
        { matches: [{ path: { type: "Exact", value: "/healthz" }, method: "GET" }], backendRefs: ref },
        {
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ ...ROUTE_HEADER }], remove: ["x-internal-token"] },
            },
          ],
          backendRefs: ref,
        },
      ],
    },
  };
}

/** The configuration as named files (file name -> multi-document YAML). */
export function gatewayBenchConfig(o: GatewayBenchOptions): Record<string, string> {
  const gateway: Doc[] = [
    { apiVersion: GW, kind: "GatewayClass", metadata: { name: "meshgate" }, spec: { controllerName: "meshgate.dev/gateway-controller" } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } },
    {
      apiVersion: GW,
      kind: "Gateway",
      metadata: meta(GATEWAY_NAME),
      spec: {
        gatewayClassName: "meshgate",
        addresses: [{ type: "IPAddress", value: o.address }],
        listeners: [
          { name: "http", port: o.httpPort, protocol: "HTTP" },
          { name: "https", port: o.httpsPort, protocol: "HTTPS", tls: { mode: "Terminate", certificateRefs: [{ name: "gateway-cert" }] } },
        ],
        tls: { backend: { clientCertificateRef: { name: "gateway-client" } } },
      },
    },
    tlsSecret("gateway-cert", o.pki.gatewayChain, o.pki.gatewayKey),
    tlsSecret("gateway-client", o.pki.clientChain, o.pki.clientKey),
  ];
  const backends: Doc[] = [
    ...backend("backend-http", o.backendHttpPort),
    ...backend("backend-mtls", o.backendMtlsPort),
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta("bench-root-ca"), data: { "ca.crt": o.pki.rootCa } },
    {
      apiVersion: GW,
      kind: "BackendTLSPolicy",
      metadata: meta("backend-mtls"),
      spec: {
        targetRefs: [{ group: "", kind: "Service", name: "backend-mtls" }],
        validation: { caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "bench-root-ca" }], hostname: BACKEND_HOSTNAME },
      },
    },
  ];
  const routes: Doc[] = [
    route("plain", "http", "backend-http", o.backendHttpPort),
    route("secure", "https", "backend-mtls", o.backendMtlsPort),
    {
      apiVersion: "gateway.envoyproxy.io/v1alpha1",
      kind: "BackendTrafficPolicy",
      metadata: meta("gateway-limits"),
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: GATEWAY_NAME }],
        rateLimit: { type: "Local", local: { rules: [{ limit: { requests: RATE_LIMIT_PER_SECOND, unit: "Second" } }] } },
      },
    },
  ];
  return { "gateway.yaml": yamlFile(gateway), "backends.yaml": yamlFile(backends), "routes.yaml": yamlFile(routes) };
}

export function writeGatewayBenchConfig(dir: string, o: GatewayBenchOptions): string[] {
  return writeConfigFiles(dir, gatewayBenchConfig(o));
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { values: a } = parseArgs({
    options: {
      pki: { type: "string" },
      out: { type: "string" },
      address: { type: "string", default: "127.0.0.1" },
      "http-port": { type: "string" },
      "https-port": { type: "string" },
      "backend-http-port": { type: "string" },
      "backend-mtls-port": { type: "string" },
    },
  });
  if (!a.pki || !a.out) throw new Error("--pki DIR and --out DIR are required");
  const files = writeGatewayBenchConfig(a.out, {
    pki: readBenchPki(a.pki),
    address: a.address ?? "127.0.0.1",
    httpPort: portArg("http-port", a["http-port"]),
    httpsPort: portArg("https-port", a["https-port"]),
    backendHttpPort: portArg("backend-http-port", a["backend-http-port"]),
    backendMtlsPort: portArg("backend-mtls-port", a["backend-mtls-port"]),
  });
  process.stdout.write(files.join("\n") + "\n");
}
