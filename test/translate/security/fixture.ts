// A small mesh for the security translator's tests: three workloads in two namespaces, a
// Service backed by one of them, and a Gateway with its own namespace.

import assert from "node:assert/strict";
import type { Model } from "../../../src/model/index.js";
import type { ProxyTarget } from "../../../src/translate/proxy-target.js";
import { GATEWAY_CLASS, modelOf, problemLines } from "../../helpers/model.js";

export const MESH = `${GATEWAY_CLASS}---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: m }
spec: { trustDomain: example.org, namespaces: [apps, other, istio-system, edge] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: apps }
spec: { ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: web, namespace: apps }
spec: { port: 8080, serviceAccount: web, labels: { app: web, tier: front }, services: [web] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: api, namespace: apps }
spec: { port: 8081, serviceAccount: api, labels: { app: api } }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: db, namespace: other }
spec: { port: 8082, serviceAccount: db, labels: { app: web } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: edge, labels: { team: edge } }
spec: { gatewayClassName: meshgate, listeners: [{ name: http, port: 80, protocol: HTTP }] }
`;

/** The model of MESH plus the given documents; fails the test on any error. */
export function meshModel(extra: string): Model {
  const r = modelOf(`${MESH}---\n${extra}`);
  assert.deepEqual(problemLines(r, "error"), []);
  return r.model;
}

export function sidecar(model: Model, key: string): ProxyTarget {
  const workload = model.workloads.find((w) => `${w.namespace}/${w.name}` === key);
  assert.ok(workload, `no workload ${key}`);
  return { kind: "sidecar", workload };
}

export function gateway(model: Model, key = "edge/gw"): ProxyTarget {
  const gw = model.gateways.find((g) => `${g.resource.namespace}/${g.resource.name}` === key);
  assert.ok(gw, `no gateway ${key}`);
  return { kind: "gateway", gateway: gw };
}

/** An AuthorizationPolicy (or another kind) document. */
export function policy(kind: string, ns: string, name: string, spec: string): string {
  return `---
apiVersion: security.istio.io/v1
kind: ${kind}
metadata: { name: ${name}, namespace: ${ns} }
spec: ${spec}
`;
}
