// The configuration the mesh benchmark runs `meshgate up` with: a gateway in front of
// application A, and A calling application B, both applications meshed (a sidecar each):
//
//   client -> gateway -> A's sidecar (inbound) -> A -> A's sidecar (outbound) -> B's sidecar (inbound) -> B
//
// with what a real mesh turns on: one Mesh for both namespaces (SVIDs from meshgate's CA),
// STRICT mTLS between every proxy, and an AuthorizationPolicy on each application that
// lets in only its one caller's SPIFFE identity (the gateway for A, A for B), so every
// sidecar inbound verifies a client certificate and runs RBAC on each request. The
// applications themselves run elsewhere (nginx, started by run.sh): Workloads without a
// command, whose sidecars `meshgate up` starts.
//
// Usage (what run.sh does):
//   node --import tsx bench/mesh/mesh-config.ts --out DIR --gateway-port N \
//     --app-a-port N --app-a-inbound N --app-a-outbound N --app-b-port N --app-b-inbound N --app-b-outbound N

import { parseArgs } from "node:util";
import { portArg, writeConfigFiles, yamlFile, type Doc } from "../lib/config-files.js";

export const TRUST_DOMAIN = "bench.local";
export const EDGE_NAMESPACE = "edge";
export const APP_NAMESPACE = "apps";
export const GATEWAY_NAME = "bench-gw";
/** The Service port both applications are called on (what A's outbound call names in Host). */
export const SERVICE_PORT = 8080;
/** Host header A sends to its sidecar's outbound port to reach B (a virtual host of the sidecar). */
export const B_AUTHORITY = `app-b.${APP_NAMESPACE}:${SERVICE_PORT}`;
export const GATEWAY_IDENTITY = `spiffe://${TRUST_DOMAIN}/ns/${EDGE_NAMESPACE}/sa/${GATEWAY_NAME}`;
export const A_IDENTITY = `spiffe://${TRUST_DOMAIN}/ns/${APP_NAMESPACE}/sa/app-a`;

export interface MeshBenchPorts {
  /** The Gateway's HTTP listener (on 127.0.0.1). */
  gateway: number;
  /** Application A (the mesh instance, behind its sidecar) and its sidecar's ports. */
  appA: number;
  appAInbound: number;
  appAOutbound: number;
  /** Application B and its sidecar's ports. */
  appB: number;
  appBInbound: number;
  appBOutbound: number;
}

const GW = "gateway.networking.k8s.io/v1";
const ns = (namespace: string, name: string, extra: Doc = {}) => ({ name, namespace, ...extra });

function app(name: "app-a" | "app-b", port: number, inbound: number, outbound: number): Doc[] {
  return [
    { apiVersion: "v1", kind: "Service", metadata: ns(APP_NAMESPACE, name), spec: { ports: [{ name: "http", port: SERVICE_PORT }] } },
    {
      apiVersion: "meshgate.dev/v1alpha1",
      kind: "Workload",
      metadata: ns(APP_NAMESPACE, name),
      spec: { serviceAccount: name, labels: { app: name }, port, sidecar: { inboundPort: inbound, outboundPort: outbound }, services: [name] },
    },
  ];
}

function allowOnly(name: "app-a" | "app-b", principal: string): Doc {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: ns(APP_NAMESPACE, `${name}-callers`),
    spec: {
      selector: { matchLabels: { app: name } },
      action: "ALLOW",
      // Istio's principal form: the SPIFFE ID without its scheme.
      rules: [{ from: [{ source: { principals: [principal.replace(/^spiffe:\/\//, "")] } }], to: [{ operation: { methods: ["GET"] } }] }],
    },
  };
}

/** The configuration as named files (file name -> multi-document YAML). */
export function meshBenchConfig(p: MeshBenchPorts): Record<string, string> {
  const mesh: Doc[] = [
    { apiVersion: GW, kind: "GatewayClass", metadata: { name: "meshgate" }, spec: { controllerName: "meshgate.dev/gateway-controller" } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: EDGE_NAMESPACE } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: APP_NAMESPACE } },
    {
      apiVersion: "meshgate.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "bench" },
      spec: { trustDomain: TRUST_DOMAIN, namespaces: [EDGE_NAMESPACE, APP_NAMESPACE], ca: { rootName: "bench" } },
    },
    { apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata: ns(APP_NAMESPACE, "default"), spec: { mtls: { mode: "STRICT" } } },
  ];
  const gateway: Doc[] = [
    {
      apiVersion: GW,
      kind: "Gateway",
      metadata: ns(EDGE_NAMESPACE, GATEWAY_NAME),
      spec: {
        gatewayClassName: "meshgate",
        addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
        listeners: [{ name: "http", port: p.gateway, protocol: "HTTP", allowedRoutes: { namespaces: { from: "All" } } }],
      },
    },
    {
      apiVersion: GW,
      kind: "HTTPRoute",
      metadata: ns(APP_NAMESPACE, "app-a"),
      spec: {
        parentRefs: [{ name: GATEWAY_NAME, namespace: EDGE_NAMESPACE }],
        rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: "app-a", port: SERVICE_PORT }] }],
      },
    },
  ];
  const apps: Doc[] = [
    ...app("app-a", p.appA, p.appAInbound, p.appAOutbound),
    ...app("app-b", p.appB, p.appBInbound, p.appBOutbound),
    allowOnly("app-a", GATEWAY_IDENTITY),
    allowOnly("app-b", A_IDENTITY),
  ];
  return { "mesh.yaml": yamlFile(mesh), "gateway.yaml": yamlFile(gateway), "apps.yaml": yamlFile(apps) };
}

export function writeMeshBenchConfig(dir: string, p: MeshBenchPorts): string[] {
  return writeConfigFiles(dir, meshBenchConfig(p));
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const flags = ["gateway-port", "app-a-port", "app-a-inbound", "app-a-outbound", "app-b-port", "app-b-inbound", "app-b-outbound"] as const;
  const { values: a } = parseArgs({ options: { out: { type: "string" }, ...Object.fromEntries(flags.map((f) => [f, { type: "string" as const }])) } });
  const v = a as Record<string, string | undefined>;
  if (!v.out) throw new Error("--out DIR is required");
  const files = writeMeshBenchConfig(v.out, {
    gateway: portArg("gateway-port", v["gateway-port"]),
    appA: portArg("app-a-port", v["app-a-port"]),
    appAInbound: portArg("app-a-inbound", v["app-a-inbound"]),
    appAOutbound: portArg("app-a-outbound", v["app-a-outbound"]),
    appB: portArg("app-b-port", v["app-b-port"]),
    appBInbound: portArg("app-b-inbound", v["app-b-inbound"]),
    appBOutbound: portArg("app-b-outbound", v["app-b-outbound"]),
  });
  process.stdout.write(files.join("\n") + "\n");
}
