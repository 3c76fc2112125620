// A Workload's sidecar (every Workload in a Mesh gets one).
//
// Inbound (`address:inboundPort`): where other proxies reach the Workload. Filter chains
// follow the port's PeerAuthentication mode: STRICT one TLS chain that requires a client
// certificate chaining to the mesh trust bundle; PERMISSIVE that chain plus a plaintext
// one; DISABLE plaintext only. The HTTP connection manager passes the verified peer
// identity on (x-forwarded-client-cert), runs RequestAuthentication and
// AuthorizationPolicy, and routes everything to the local application in plaintext.
//
// Outbound (`address:outboundPort`): the application's plaintext HTTP proxy. Its route
// table (`outbound|<namespace>`, shared by the sidecars of a namespace) has a virtual host
// per Service port: the Service's names (the short name only for Services in the same
// namespace), each with `:port`, and without port for the port a bare Host means
// (mesh-routes.ts). Requests for other hosts get 404: there is no passthrough egress.
//
// Upstreams (`address:localPort`, spec.sidecar.upstreams): one plaintext HTTP listener per
// entry whose table (`upstream|<namespace>|<host>:<port>`) holds only that Service port's
// virtual host, for any Host: the application calls `http://127.0.0.1:<localPort>/` and
// needs no proxy support. The routes and clusters are the outbound table's for that port,
// so GAMMA routes, mTLS and the callee identity check apply the same way.

import type { IrFilterChain, IrHttpConnectionManager, IrListener, IrMtlsMode, IrProxy, IrRouteTable, IrVirtualHost } from "../ir/index.js";
import { proxyId, SVID_SECRET, TRUST_BUNDLE_SECRET } from "../ir/index.js";
import type { Model, WorkloadModel, WorkloadUpstreamModel } from "../model/index.js";
import type { ClusterContext } from "./backends.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "./backends.js";
import { portlessPort, serviceNames, serviceRoutes, serviceVirtualHost, type ServiceRoutesContext } from "./mesh-routes.js";
import { byString, inboundClusterName, routeTableNames, serviceHost } from "./names.js";
import { authorizationFor } from "./security/authorization-policy.js";
import { mtlsModeFor } from "./security/peer-authentication.js";
import { jwtAuthnFor } from "./security/request-authentication.js";
import { httpConnectionManager, httpFilters, type SnapshotBuilder } from "./snapshot-builder.js";

const SIDECAR_CONTEXT: ClusterContext = { meshIdentity: true, backendClientCertificate: SVID_SECRET, proxyless: false };

export function sidecarProxy(model: Model, w: WorkloadModel, b: SnapshotBuilder): IrProxy {
  const mesh = w.mesh!;
  const target = { kind: "sidecar", workload: w } as const;

  const local = b.clusters.add({
    name: inboundClusterName(w.namespace, w.name, w.port),
    endpoints: [{ address: w.address, port: w.port, healthy: true }],
    protocol: w.protocol === "HTTP" ? "http1" : "http2",
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    loadBalancer: "ROUND_ROBIN",
  });
  const inboundTable = b.addRouteTable({
    name: routeTableNames.sidecarInbound(w.namespace, w.name),
    virtualHosts: [
      {
        name: "inbound",
        domains: ["*"],
        routes: [
          {
            name: "inbound",
            match: { path: { kind: "PathPrefix", value: "/" }, headers: [], queryParams: [] },
            action: { kind: "forward", backends: [{ cluster: local, weight: 1 }] },
            source: { kind: "Workload", namespace: w.namespace, name: w.name, rule: 0 },
          },
        ],
      },
    ],
  });
  const inboundHttp = httpConnectionManager(
    `inbound_${w.inboundPort}`,
    inboundTable,
    httpFilters({ jwtAuthn: jwtAuthnFor(model, target), authorization: authorizationFor(model, target) }),
    true,
  );
  const chains = inboundFilterChains(mtlsModeFor(model, w, w.port), inboundHttp);

  const outboundTable = b.routeTables.has(routeTableNames.sidecarOutbound(w.namespace))
    ? routeTableNames.sidecarOutbound(w.namespace)
    : b.addRouteTable(outboundRouteTable(model, w.namespace, b));

  const upstreamListeners: IrListener[] = w.upstreams.map((u) => {
    const table = routeTableNames.sidecarUpstream(w.namespace, u.service, u.port.port);
    if (!b.routeTables.has(table)) b.addRouteTable(upstreamRouteTable(model, w.namespace, u, b));
    return {
      kind: "socket",
      name: `upstream|${w.address}_${u.localPort}`,
      address: w.address,
      port: u.localPort,
      direction: "outbound",
      filterChains: [{ name: "upstream|raw", serverNames: [], transport: "raw", http: httpConnectionManager(`upstream_${u.localPort}`, table, {}) }],
    };
  });

  return b.proxy({
    id: proxyId.sidecar(w.namespace, w.name),
    role: "sidecar",
    namespace: w.namespace,
    name: w.name,
    identity: { spiffeId: w.spiffeId!, trustDomain: mesh.trustDomain },
    listeners: [
      { kind: "socket", name: `inbound|${w.address}_${w.inboundPort}`, address: w.address, port: w.inboundPort, direction: "inbound", filterChains: chains },
      {
        kind: "socket",
        name: `outbound|${w.address}_${w.outboundPort}`,
        address: w.address,
        port: w.outboundPort,
        direction: "outbound",
        filterChains: [{ name: "outbound|raw", serverNames: [], transport: "raw", http: httpConnectionManager(`outbound_${w.outboundPort}`, outboundTable, {}) }],
      },
      ...upstreamListeners,
    ],
  });
}

/** STRICT: mTLS only; PERMISSIVE: mTLS and plaintext; DISABLE: plaintext only. */
export function inboundFilterChains(mode: IrMtlsMode, http: IrHttpConnectionManager): IrFilterChain[] {
  const chains: IrFilterChain[] = [];
  if (mode !== "DISABLE") {
    chains.push({
      name: "inbound|tls",
      serverNames: [],
      transport: "tls",
      tls: {
        certificates: [SVID_SECRET],
        clientValidation: { secret: TRUST_BUNDLE_SECRET, subjectAltNames: [] },
        requireClientCertificate: true,
        alpn: ["h2", "http/1.1"],
        minVersion: "1.2",
      },
      http,
    });
  }
  if (mode !== "STRICT") chains.push({ name: "inbound|raw", serverNames: [], transport: "raw", http });
  return chains;
}

/** Every Service port, as the sidecars of one namespace see it. */
function outboundRouteTable(model: Model, clientNamespace: string, b: SnapshotBuilder): IrRouteTable {
  const ctx = routesContext(model, b);
  const virtualHosts: IrVirtualHost[] = [];
  const services = [...model.services].sort((x, y) => byString(serviceHost(x), serviceHost(y)));
  for (const svc of services) {
    const names = serviceNames(svc, svc.namespace === clientNamespace);
    const bare = portlessPort(svc);
    for (const port of [...svc.ports].sort((x, y) => x.port - y.port)) {
      const domains = names.flatMap((n) => (port.port === bare ? [n, `${n}:${port.port}`] : [`${n}:${port.port}`]));
      virtualHosts.push(serviceVirtualHost(`${serviceHost(svc)}:${port.port}`, domains, serviceRoutes(svc, port, clientNamespace, ctx)));
    }
  }
  return { name: routeTableNames.sidecarOutbound(clientNamespace), virtualHosts };
}

/** One Service port for any Host: the same routes as its virtual host in the outbound table. */
function upstreamRouteTable(model: Model, clientNamespace: string, u: WorkloadUpstreamModel, b: SnapshotBuilder): IrRouteTable {
  const routes = serviceRoutes(u.service, u.port, clientNamespace, routesContext(model, b));
  return {
    name: routeTableNames.sidecarUpstream(clientNamespace, u.service, u.port.port),
    virtualHosts: [serviceVirtualHost(`${serviceHost(u.service)}:${u.port.port}`, ["*"], routes)],
  };
}

function routesContext(model: Model, b: SnapshotBuilder): ServiceRoutesContext {
  return { model, clusters: b.clusters, clusterContext: SIDECAR_CONTEXT };
}
