// The configuration the pipeline benchmark serves: one Mesh, 100 Services with a GAMMA
// HTTPRoute each (a weighted split to the next Service), N Workloads spread across the
// Services (each one a sidecar the load generator impersonates), and an ingress Gateway
// with ten HTTPRoutes. Written as files, the way an operator keeps them, so `meshgate up`'s
// watcher loads them; each round rewrites one file (`split.yaml`).

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SERVICES = 100;
export const APP_NAMESPACE = "bench";
export const GATEWAY_NODE = "gateway~ingress~bench-gw";
export const sidecarNode = (i: number) => `sidecar~${APP_NAMESPACE}~w-${i}`;
const svc = (i: number) => `svc-${i % SERVICES}`;

const MESH = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: bench }
spec: { trustDomain: bench.local, namespaces: [${APP_NAMESPACE}, ingress] }
---
apiVersion: v1
kind: Namespace
metadata: { name: ${APP_NAMESPACE} }
---
apiVersion: v1
kind: Namespace
metadata: { name: ingress }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: bench-gw, namespace: ingress }
spec:
  gatewayClassName: meshgate
  listeners:
    - { name: http, port: 8080, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
`;

function services(): string {
  return Array.from({ length: SERVICES }, (_, i) => `apiVersion: v1
kind: Service
metadata: { name: ${svc(i)}, namespace: ${APP_NAMESPACE} }
spec: { ports: [{ name: http, port: 8080 }] }
`).join("---\n");
}

/** The GAMMA route of Service i: /v2 to the next Service, the rest split by `weight` percent. */
function meshRoute(i: number, weight: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${svc(i)}, namespace: ${APP_NAMESPACE} }
spec:
  parentRefs: [{ group: "", kind: Service, name: ${svc(i)}, port: 8080 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2 } }]
      backendRefs: [{ name: ${svc(i + 1)}, port: 8080 }]
      timeouts: { request: 15s }
    - backendRefs:
        - { name: ${svc(i)}, port: 8080, weight: ${weight} }
        - { name: ${svc(i + 1)}, port: 8080, weight: ${100 - weight} }
`;
}

function gatewayRoutes(): string {
  return Array.from({ length: 10 }, (_, k) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ingress-${k}, namespace: ${APP_NAMESPACE} }
spec:
  parentRefs: [{ name: bench-gw, namespace: ingress }]
  hostnames: [app-${k}.bench.example]
  rules:
${Array.from({ length: 5 }, (_, r) => `    - matches: [{ path: { type: PathPrefix, value: /api/v${r} } }]
      backendRefs: [{ name: ${svc(k * 10 + r)}, port: 8080 }]
`).join("")}`).join("---\n");
}

function workloads(n: number): string {
  return Array.from({ length: n }, (_, i) => `apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: w-${i}, namespace: ${APP_NAMESPACE} }
spec: { address: 10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}, port: 8080, serviceAccount: ${svc(i)}, labels: { app: ${svc(i)} }, services: [${svc(i)}] }
`).join("---\n");
}

/** The weight of svc-0's own backend in round `round` (never the same twice in a row). */
export const splitWeight = (round: number) => 10 + ((round * 7) % 80);

/** The file each round rewrites: svc-0's route with a new split. */
export function writeSplit(dir: string, round: number): void {
  writeFileSync(join(dir, "split.yaml"), meshRoute(0, splitWeight(round)));
}

export function writeMeshConfig(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "mesh.yaml"), MESH);
  writeFileSync(join(dir, "services.yaml"), services());
  writeFileSync(join(dir, "routes.yaml"), Array.from({ length: SERVICES - 1 }, (_, i) => meshRoute(i + 1, 90)).join("---\n") + "---\n" + gatewayRoutes());
  writeFileSync(join(dir, "workloads.yaml"), workloads(n));
  writeSplit(dir, 0);
}
