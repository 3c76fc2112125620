// A Gateway's proxy: one socket listener per port, on the Gateway's first address
// (0.0.0.0 without one).
// - HTTP listeners on a port share one plaintext filter chain and one route table, with
//   a virtual host per hostname (hostnames.ts).
// - Each HTTPS listener has its own TLS filter chain, chosen by SNI (`serverNames` = its
//   hostname; none = any name), with the certificates of its certificateRefs and its own
//   route table.
// - Client certificate validation (Gateway `spec.tls.frontend`) is per port: the CA bundle
//   becomes one `ca-bundle` secret per port, `frontend-ca/<namespace>/<gateway>/<port>`;
//   `AllowValidOnly` requires a certificate, `AllowInsecureFallback` only asks for one (a
//   certificate that is presented must still verify).
// - Only listeners that are ready (accepted, not conflicted, references resolved) are
//   programmed.
// - A Gateway whose namespace is in a Mesh gets an identity,
//   spiffe://<trust domain>/ns/<namespace>/sa/<gateway name>, with its SVID and trust
//   bundle: it then reaches mesh Services over mTLS. Routes to a mesh Service use the
//   Service's cluster directly (GAMMA routes are east-west only).

import type { IrFilterChain, IrListener, IrProxy, IrSecret } from "../ir/index.js";
import { proxyId, SVID_SECRET } from "../ir/index.js";
import type { GatewayModel, ListenerModel, Model, RouteModel } from "../model/index.js";
import { meshOfNamespace } from "../model/meshgate/meshes.js";
import { gatewayBackendClientCertificate } from "./backend-tls-policy.js";
import type { ClusterContext } from "./backends.js";
import { gatewayVirtualHosts, type HostedRoute, type ListenerRoutes } from "./hostnames.js";
import type { RouteEntry } from "./http-route.js";
import { kubeSecretName, routeTableNames } from "./names.js";
import type { RouteContext } from "./route-action.js";
import { routeEntries } from "./route-entries.js";
import { authorizationFor } from "./security/authorization-policy.js";
import { jwtAuthnFor } from "./security/request-authentication.js";
import { httpConnectionManager, httpFilters, type SnapshotBuilder } from "./snapshot-builder.js";

/** Accepted, and not refused a socket (an address collision makes Programmed False at once). */
export function isAccepted(gw: GatewayModel): boolean {
  return gw.conditions.find((c) => c.type === "Accepted")?.status === "True" && gw.conditions.find((c) => c.type === "Programmed")?.status !== "False";
}

/** The Gateways that get a proxy, in a stable order. */
export function servedGateways(model: Model): GatewayModel[] {
  return model.gateways.filter(isAccepted).sort((x, y) => {
    const a = `${x.resource.namespace}/${x.resource.name}`;
    const b = `${y.resource.namespace}/${y.resource.name}`;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

export function gatewayProxy(model: Model, gw: GatewayModel, b: SnapshotBuilder): IrProxy {
  const { namespace, name } = gw.resource;
  const mesh = meshOfNamespace(model.meshes, namespace);
  const spiffeId = mesh ? `spiffe://${mesh.trustDomain}/ns/${namespace}/sa/${name}` : undefined;
  const clientCert = gatewayBackendClientCertificate(model, gw);
  const clusterContext: ClusterContext = {
    meshIdentity: mesh !== undefined,
    backendClientCertificate: clientCert === null ? undefined : (clientCert ?? (mesh ? SVID_SECRET : undefined)),
    proxyless: false,
  };
  const filters = httpFilters({ jwtAuthn: jwtAuthnFor(model, { kind: "gateway", gateway: gw }), authorization: authorizationFor(model, { kind: "gateway", gateway: gw }) });
  const attached = attachedRoutes(model, gw);
  const address = gw.addresses[0] ?? "0.0.0.0";

  // Compiled once per route and port (the port only changes redirect defaults).
  const compiled = new Map<string, RouteEntry[]>();
  const entriesOf = (route: RouteModel, port: number): RouteEntry[] => {
    const key = `${route.kind}/${route.resource.namespace}/${route.resource.name}/${port}`;
    let e = compiled.get(key);
    if (!e) {
      const ctx: RouteContext = { model, gateway: gw, port, clusters: b.clusters, clusterContext };
      compiled.set(key, (e = routeEntries(route, ctx)));
    }
    return e;
  };
  const listenerRoutes = (l: ListenerModel): ListenerRoutes => ({
    hostname: l.hostname,
    routes: [...(attached.get(l) ?? new Map<RouteModel, Set<string>>())].map(([route, hosts]): HostedRoute => ({ hostnames: [...hosts].sort(), entries: entriesOf(route, l.port) })),
  });

  const secrets: IrSecret[] = [];
  const listeners: IrListener[] = [];
  const ports = [...new Set(gw.listeners.filter((l) => l.ready).map((l) => l.port))].sort((x, y) => x - y);
  for (const port of ports) {
    const onPort = gw.listeners.filter((l) => l.ready && l.port === port);
    const chains: IrFilterChain[] = [];
    const http = onPort.filter((l) => l.protocol === "HTTP");
    if (http.length > 0) {
      const table = b.addRouteTable({ name: routeTableNames.gatewayHttp(namespace, name, port), virtualHosts: gatewayVirtualHosts(http.map(listenerRoutes), port) });
      chains.push({ name: `http|${port}`, serverNames: [], transport: "raw", http: httpConnectionManager(`gateway_${port}`, table, filters) });
    }
    const frontendCa = `frontend-ca/${namespace}/${name}/${port}`;
    let frontendCaAdded = false;
    for (const l of onPort.filter((x) => x.protocol === "HTTPS")) {
      const table = b.addRouteTable({ name: routeTableNames.gatewayHttps(namespace, name, port, l.name), virtualHosts: gatewayVirtualHosts([listenerRoutes(l)], port) });
      const certificates = l.certificates.map((c) => {
        const secretName = kubeSecretName(c.namespace, c.name);
        secrets.push({ name: secretName, kind: "certificate", certPem: c.certPem, keyPem: c.keyPem });
        return secretName;
      });
      if (l.clientValidation && !frontendCaAdded) {
        secrets.push({ name: frontendCa, kind: "ca-bundle", caPem: l.clientValidation.caPem });
        frontendCaAdded = true;
      }
      chains.push({
        name: `https|${port}|${l.name}`,
        serverNames: l.hostname ? [l.hostname] : [],
        transport: "tls",
        tls: {
          certificates,
          ...(l.clientValidation ? { clientValidation: { secret: frontendCa, subjectAltNames: [] } } : {}),
          requireClientCertificate: l.clientValidation?.mode === "AllowValidOnly",
          alpn: ["h2", "http/1.1"],
          minVersion: "1.2",
        },
        http: httpConnectionManager(`gateway_${port}_${l.name}`, table, filters),
      });
    }
    listeners.push({ kind: "socket", name: `${address}_${port}`, address, port, direction: "gateway", filterChains: chains });
  }
  return b.proxy({
    id: proxyId.gateway(namespace, name),
    role: "gateway",
    namespace,
    name,
    ...(mesh && spiffeId ? { identity: { spiffeId, trustDomain: mesh.trustDomain } } : {}),
    listeners,
    secrets,
  });
}

/** listener -> route -> the hostnames it serves there (`*` = any). A route attached twice (two parentRefs) is merged. */
function attachedRoutes(model: Model, gw: GatewayModel): Map<ListenerModel, Map<RouteModel, Set<string>>> {
  const out = new Map<ListenerModel, Map<RouteModel, Set<string>>>();
  for (const route of model.routes) {
    for (const parent of route.parents) {
      if (parent.kind !== "Gateway" || parent.gateway !== gw) continue;
      for (const a of parent.listeners) {
        if (!a.listener.ready) continue;
        let byRoute = out.get(a.listener);
        if (!byRoute) out.set(a.listener, (byRoute = new Map()));
        let hosts = byRoute.get(route);
        if (!hosts) byRoute.set(route, (hosts = new Set()));
        for (const h of a.any ? ["*"] : a.hostnames) hosts.add(h);
      }
    }
  }
  return out;
}
