// Make-before-break across xDS responses. A route change that sends traffic to a cluster
// the proxy has not seen before arrives in three responses: CDS (the new cluster, and the
// old one gone), RDS (the route), and EDS (the new cluster's endpoints — asked for only
// once the proxy has seen the cluster, so it comes last). Applied as they come, requests
// in between find the old cluster gone or the new one empty. Instead:
// - a route table whose new version targets an EDS cluster whose endpoints have not
//   arrived keeps its previous version (Envoy's cluster warming, applied to routes);
// - a cluster the new CDS dropped stays while a route table in force still targets it.
// Both resolve once the endpoints arrive: the new table goes in and the old cluster goes.

import type { EnvoyResource } from "./contracts.js";

const targetsCache = new WeakMap<EnvoyResource, ReadonlySet<string>>();

/** The clusters a RouteConfiguration sends requests to (routes, weighted clusters, mirrors). */
export function routeTargets(rc: EnvoyResource): ReadonlySet<string> {
  let out = targetsCache.get(rc);
  if (out) return out;
  const names = new Set<string>();
  for (const vh of (rc.virtualHosts as EnvoyResource[] | undefined) ?? []) {
    for (const r of (vh.routes as EnvoyResource[] | undefined) ?? []) {
      const action = r.route as EnvoyResource | undefined;
      if (!action) continue;
      if (typeof action.cluster === "string" && action.cluster) names.add(action.cluster);
      for (const c of ((action.weightedClusters as EnvoyResource | undefined)?.clusters as EnvoyResource[] | undefined) ?? []) if (typeof c.name === "string") names.add(c.name);
      for (const m of (action.requestMirrorPolicies as EnvoyResource[] | undefined) ?? []) if (typeof m.cluster === "string") names.add(m.cluster);
    }
  }
  out = names;
  targetsCache.set(rc, out);
  return out;
}

/** The load assignment an EDS cluster waits for; undefined for other discovery types. */
export function edsNameOf(name: string, cluster: EnvoyResource): string | undefined {
  if (cluster.type !== "EDS") return undefined;
  const serviceName = (cluster.edsClusterConfig as EnvoyResource | undefined)?.serviceName;
  return typeof serviceName === "string" && serviceName !== "" ? serviceName : name;
}

/** False while a cluster the table targets is an EDS cluster without its endpoints (a missing cluster is the route's answer, not a wait). */
export function routeTableWarm(rc: EnvoyResource, clusters: ReadonlyMap<string, EnvoyResource>, endpoints: ReadonlyMap<string, EnvoyResource>): boolean {
  for (const name of routeTargets(rc)) {
    const c = clusters.get(name);
    const eds = c ? edsNameOf(name, c) : undefined;
    if (eds !== undefined && !endpoints.has(eds)) return false;
  }
  return true;
}

/**
 * The clusters (and their endpoints) to run: the configuration's, plus those it dropped
 * that the given route tables still target, taken from what was running.
 */
export function withRetainedClusters(
  clusters: ReadonlyMap<string, EnvoyResource>,
  endpoints: ReadonlyMap<string, EnvoyResource>,
  tables: Iterable<EnvoyResource>,
  running: { readonly clusters: ReadonlyMap<string, EnvoyResource>; readonly endpoints: ReadonlyMap<string, EnvoyResource> },
): { clusters: ReadonlyMap<string, EnvoyResource>; endpoints: ReadonlyMap<string, EnvoyResource>; retained: readonly string[] } {
  const retained: string[] = [];
  for (const rc of tables) for (const name of routeTargets(rc)) if (!clusters.has(name) && running.clusters.has(name) && !retained.includes(name)) retained.push(name);
  if (retained.length === 0) return { clusters, endpoints, retained };
  const c = new Map(clusters);
  const e = new Map(endpoints);
  for (const name of retained) {
    const resource = running.clusters.get(name)!;
    c.set(name, resource);
    const eds = edsNameOf(name, resource);
    const cla = eds !== undefined && !e.has(eds) ? running.endpoints.get(eds) : undefined;
    if (eds !== undefined && cla) e.set(eds, cla);
  }
  return { clusters: c, endpoints: e, retained: retained.sort() };
}
