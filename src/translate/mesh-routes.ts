// GAMMA: HTTPRoutes and GRPCRoutes whose parent is a Service route the traffic clients
// send to that Service (east-west); Gateways never apply them.
// - A parentRef with a port limits the route to that Service port.
// - Producer routes (in the Service's namespace) apply to every client. Consumer routes
//   (in another namespace) apply only to clients in the route's namespace, and for them
//   they replace the producer routes. A client without a namespace (the proxyless client
//   view) gets the producer routes.
// - Without routes, the Service port gets one default route to its own cluster. With
//   routes, a request none of them matches gets 404, as GAMMA asks.

import type { IrRoute, IrVirtualHost } from "../ir/index.js";
import type { Model, RouteModel, ServiceModel, ServicePortModel } from "../model/index.js";
import type { ClusterContext, ClusterRegistry } from "./backends.js";
import { orderedRoutes } from "./hostnames.js";
import { routeEntries } from "./route-entries.js";

/** The GAMMA routes for one Service port, as seen by a client in `clientNamespace`. */
export function meshRoutesFor(model: Model, svc: ServiceModel, port: ServicePortModel, clientNamespace: string | undefined): RouteModel[] {
  const attached = model.routes.filter((r) =>
    r.parents.some(
      (p) =>
        p.kind === "Service" &&
        p.service !== undefined &&
        p.service.namespace === svc.namespace &&
        p.service.name === svc.name &&
        (p.port === undefined || p.port === port.port) &&
        p.conditions.find((c) => c.type === "Accepted")?.status === "True",
    ),
  );
  const consumer = clientNamespace !== undefined && clientNamespace !== svc.namespace ? attached.filter((r) => r.resource.namespace === clientNamespace) : [];
  return consumer.length > 0 ? consumer : attached.filter((r) => r.resource.namespace === svc.namespace);
}

export interface ServiceRoutesContext {
  readonly model: Model;
  readonly clusters: ClusterRegistry;
  readonly clusterContext: ClusterContext;
}

/** The routes of a Service port's virtual host for one client namespace. */
export function serviceRoutes(svc: ServiceModel, port: ServicePortModel, clientNamespace: string | undefined, ctx: ServiceRoutesContext): IrRoute[] {
  const routes = meshRoutesFor(ctx.model, svc, port, clientNamespace);
  if (routes.length > 0) {
    return orderedRoutes(routes.flatMap((r) => routeEntries(r, { model: ctx.model, gateway: undefined, port: port.port, clusters: ctx.clusters, clusterContext: ctx.clusterContext })));
  }
  const cluster = ctx.clusters.serviceCluster(svc, port, ctx.clusterContext, { grpc: false });
  return [
    {
      name: `service/${svc.namespace}/${svc.name}/${port.port}`,
      match: { path: { kind: "PathPrefix", value: "/" }, headers: [], queryParams: [] },
      action: cluster ? { kind: "forward", backends: [{ cluster, weight: 1 }] } : { kind: "direct", status: 500 },
      source: { kind: "Service", namespace: svc.namespace, name: svc.name, rule: 0 },
    },
  ];
}

/** The names a Service is called by: `name.ns.svc.cluster.local`, `name.ns.svc`, `name.ns`, and `name` in its own namespace. */
export function serviceNames(svc: ServiceModel, shortName: boolean): string[] {
  const full = [`${svc.name}.${svc.namespace}.svc.cluster.local`, `${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}`];
  return shortName ? [...full, svc.name] : full;
}

/**
 * The port a Host header without a port means: 80 when the Service has it; otherwise, so
 * that single-port Services work with bare names, the Service's lowest port.
 */
export function portlessPort(svc: ServiceModel): number | undefined {
  const ports = svc.ports.map((p) => p.port);
  if (ports.includes(80)) return 80;
  return ports.length > 0 ? Math.min(...ports) : undefined;
}

export function serviceVirtualHost(name: string, domains: string[], routes: IrRoute[]): IrVirtualHost {
  return { name, domains, routes };
}
