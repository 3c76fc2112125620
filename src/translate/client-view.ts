// The view served to proxyless gRPC clients (node id `*`): for every Service port an API
// listener named `<name>.<ns>.svc.cluster.local:<port>` (what a client dials as
// `xds:///<name>.<ns>.svc.cluster.local:<port>`) whose route table of the same name has one
// virtual host: the Service's names (with and without the port) and its producer GAMMA
// routes, or the default route.
//
// Such clients receive no secrets (they are not known proxies), so their clusters are
// plaintext: mesh Services are reached at their sidecars' inbound ports (the sidecar's
// PeerAuthentication decides: STRICT refuses plaintext, PERMISSIVE admits it as an
// unauthenticated peer, and AuthorizationPolicy still applies), other Services at their
// endpoints. Services that need upstream TLS (BackendTLSPolicy) are not reachable from
// this view: their share gets 500 instead of being sent in plaintext.

import type { IrListener, IrProxy } from "../ir/index.js";
import { proxyId } from "../ir/index.js";
import type { Model } from "../model/index.js";
import type { ClusterContext } from "./backends.js";
import { serviceNames, serviceRoutes, serviceVirtualHost } from "./mesh-routes.js";
import { byString, routeTableNames, serviceHost } from "./names.js";
import { httpConnectionManager, type SnapshotBuilder } from "./snapshot-builder.js";

const CLIENT_CONTEXT: ClusterContext = { meshIdentity: false, backendClientCertificate: undefined, proxyless: true };

export function clientView(model: Model, b: SnapshotBuilder): IrProxy {
  const ctx = { model, clusters: b.clusters, clusterContext: CLIENT_CONTEXT };
  const listeners: IrListener[] = [];
  const services = [...model.services].sort((x, y) => byString(serviceHost(x), serviceHost(y)));
  for (const svc of services) {
    for (const port of [...svc.ports].sort((x, y) => x.port - y.port)) {
      const name = routeTableNames.client(svc, port.port);
      const domains = serviceNames(svc, true).flatMap((n) => [`${n}:${port.port}`, n]);
      b.addRouteTable({ name, virtualHosts: [serviceVirtualHost(name, domains, serviceRoutes(svc, port, undefined, ctx))] });
      listeners.push({ kind: "api", name, http: httpConnectionManager(`client_${svc.namespace}_${svc.name}_${port.port}`, name, {}) });
    }
  }
  return b.proxy({ id: proxyId.client, role: "client", namespace: "", name: "*", listeners });
}
