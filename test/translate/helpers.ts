// Builds the IR from inline YAML, and small lookups for assertions on it.

import assert from "node:assert/strict";
import type { IrCluster, IrProxy, IrRoute, IrRouteTable, IrSnapshot, IrVirtualHost } from "../../src/ir/index.js";
import { translate } from "../../src/translate/index.js";
import { GATEWAY_CLASS, modelOf, problemLines } from "../helpers/model.js";

export { GATEWAY_CLASS };

/** Translates; `errors` lists the model errors expected (by code), none by default. */
export function irOf(yaml: string, errors: string[] = []): IrSnapshot {
  const result = modelOf(yaml);
  assert.deepEqual(result.problems.filter((p) => p.severity === "error").map((p) => p.code).sort(), [...errors].sort(), problemLines(result, "error").join("\n"));
  return translate(result.model, 1);
}

export function proxy(s: IrSnapshot, id: string): IrProxy {
  const p = s.proxies.find((x) => x.id === id);
  assert.ok(p, `no proxy ${id}; have ${s.proxies.map((x) => x.id).join(", ")}`);
  return p;
}

export function table(s: IrSnapshot, name: string): IrRouteTable {
  const t = s.routeTables.get(name);
  assert.ok(t, `no route table ${name}; have ${[...s.routeTables.keys()].join(", ")}`);
  return t;
}

export function vhost(t: IrRouteTable, name: string): IrVirtualHost {
  const v = t.virtualHosts.find((x) => x.name === name);
  assert.ok(v, `no virtual host ${name} in ${t.name}; have ${t.virtualHosts.map((x) => x.name).join(", ")}`);
  return v;
}

export function cluster(s: IrSnapshot, name: string): IrCluster {
  const c = s.clusters.get(name);
  assert.ok(c, `no cluster ${name}; have ${[...s.clusters.keys()].join(", ")}`);
  return c;
}

export function route(v: IrVirtualHost, name: string): IrRoute {
  const r = v.routes.find((x) => x.name === name);
  assert.ok(r, `no route ${name} in ${v.name}; have ${v.routes.map((x) => x.name).join(", ")}`);
  return r;
}

/** `path-kind path [method] [h=n] [q=n]` -> route name, in order: compact precedence assertions. */
export function order(v: IrVirtualHost): string[] {
  return v.routes.map((r) => r.name);
}

/** A Gateway `gw` in namespace `infra` with these listeners, plus the GatewayClass. */
export function gateway(listeners: string, extra = ""): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
${extra}  listeners:
${listeners}`;
}

/** A Service with EndpointSlice endpoints. */
export function service(namespace: string, name: string, port = 8080, addresses = ["10.0.0.1"], appProtocol?: string): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  ports: [{ name: http, port: ${port}${appProtocol ? `, appProtocol: ${appProtocol}` : ""} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${namespace}, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints:
${addresses.map((a) => `  - addresses: [${a}]`).join("\n")}
`;
}

export const HTTP_GW = gateway(`    - { name: http, port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
`);

export interface RouteOptions {
  readonly namespace?: string;
  readonly created?: string;
  readonly hostnames?: string[];
  readonly parent?: string;
}

/** An HTTPRoute (default namespace `infra`) attached to gw, with these rules (YAML list, indented by 4). */
export function httpRoute(name: string, rules: string, o: RouteOptions = {}): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${o.namespace ?? "infra"}${o.created ? `, creationTimestamp: "${o.created}"` : ""} }
spec:
  parentRefs: [${o.parent ?? "{ name: gw, namespace: infra }"}]
${o.hostnames ? `  hostnames: [${o.hostnames.map((h) => JSON.stringify(h)).join(", ")}]\n` : ""}  rules:
${rules}`;
}

export const GW_TABLE = "gateway|infra|gw|80";
export const ANY_HOST = "*:80";
