// One process's data plane: listeners, route tables, filters and upstream clusters built
// from an xDS resource set. `apply` builds everything the new set needs before anything
// changes, so a set that cannot be honoured is refused whole (the xDS client NACKs it)
// and the previous configuration keeps serving.

import type { ResourceKind } from "../xds/envoy-protos.js";
import type { Logger } from "../telemetry/logger.js";
import type { EnvoyResource } from "./contracts.js";
import { ConnectionManager, type RouteTables } from "./connection-manager.js";
import { ListenerManager } from "./listeners/listener-manager.js";
import { compileRouteConfiguration, type RouteTable } from "./router/route-table.js";
import { checkRouteFilterConfig, checkRouteRateLimits } from "./filters/index.js";
import { ClusterManager } from "./upstream/cluster-manager.js";
import { unsupportedRetryConditions } from "./upstream/retry-policy.js";
import { ProxyRouteUnsupportedError } from "../errors.js";
import { referencedNames, type XdsResourceSet } from "./xds/resource-set.js";
import { routeTableWarm, withRetainedClusters } from "./make-before-break.js";

export interface DataPlaneOptions {
  readonly logger: Logger;
}

export class DataPlane {
  readonly listeners: ListenerManager;
  readonly clusters: ClusterManager;
  readonly connections: ConnectionManager;
  // Compiled once per received resource object: an unchanged route table is reused.
  #compiledRoutes = new WeakMap<EnvoyResource, RouteTable>();
  #applied = false;
  #servedListeners: ReadonlyMap<string, EnvoyResource> = new Map();
  /** The route tables connections use, with the resource each was compiled from. */
  #tablesInForce = new Map<string, { readonly rc: EnvoyResource; readonly table: RouteTable }>();
  /** A table kept its previous version while a cluster warms: every update looks again. */
  #holding = false;
  /** A listener is held back until the route tables it names arrive (see #warmed). */
  #listenersAwaitRoutes = false;
  /** What the cluster manager runs: the configuration's clusters and the retained ones. */
  #running: { clusters: ReadonlyMap<string, EnvoyResource>; endpoints: ReadonlyMap<string, EnvoyResource>; retained: readonly string[] } = { clusters: new Map(), endpoints: new Map(), retained: [] };

  constructor(opts: DataPlaneOptions) {
    this.listeners = new ListenerManager({ logger: opts.logger });
    this.clusters = new ClusterManager({ logger: opts.logger });
    this.connections = new ConnectionManager({ clusters: this.clusters, logger: opts.logger, rateLimitService: (name) => this.#rateLimitService(name) });
  }

  /**
   * Where the ratelimit filter calls the rate limit service: an endpoint of the cluster its
   * config names (the translator's `meshgate|ratelimit`), looked up per call so a changed
   * cluster takes effect at once. A host name is left to the gRPC client to resolve.
   */
  #rateLimitService(clusterName: string): { host: string; port: number } | undefined {
    const h = this.clusters.get(clusterName)?.pickHost(undefined);
    return h ? { host: h.address, port: h.port } : undefined;
  }

  /** True once a configuration with listeners has been applied. */
  get applied(): boolean {
    return this.#applied;
  }

  /** `changed` says which type the new set differs in; "all" (a new worker) builds everything. */
  async apply(set: XdsResourceSet, changed: ResourceKind | "all"): Promise<void> {
    const is = (...kinds: ResourceKind[]) => changed === "all" || kinds.includes(changed);
    // Route tables and the connection managers' filter chains are compiled first: they
    // throw on anything unsupported before a socket or pool is touched.
    let next: Map<string, { readonly rc: EnvoyResource; readonly table: RouteTable }> | undefined;
    let holding = false;
    if (is("route", "listener") || this.#holding) {
      next = new Map();
      for (const [name, rc] of set.routes) {
        let t = this.#compiledRoutes.get(rc);
        if (!t) {
          t = compileRouteConfiguration(rc);
          checkRouteFilterConfigs(rc);
          this.#compiledRoutes.set(rc, t);
        }
        // Make before break (make-before-break.ts): not onto a cluster still warming.
        const previous = this.#tablesInForce.get(name);
        if (previous && previous.rc !== rc && !routeTableWarm(rc, set.clusters, set.endpoints)) {
          next.set(name, previous);
          holding = true;
        } else next.set(name, { rc, table: t });
      }
    }
    if (is("listener")) this.connections.validateListeners(set.listeners);
    // Upstreams before listeners, as Envoy warms clusters before the listeners that use them.
    // Until the new tables are in, the ones in force keep the clusters they target.
    const inForce = [...this.#tablesInForce.values()].map((x) => x.rc);
    const upstream = withRetainedClusters(set.clusters, set.endpoints, next ? [...inForce, ...[...next.values()].map((x) => x.rc)] : inForce, this.#running);
    if (is("cluster", "endpoint", "secret") || upstream.retained.join() !== this.#running.retained.join()) this.#runClusters(upstream, set);
    // Route tables before listeners: a listener bound by this update must find its table.
    if (next) {
      const tables: RouteTables = new Map([...next].map(([name, x]) => [name, x.table]));
      this.connections.setRouteTables(tables);
      this.#tablesInForce = next;
      this.#holding = holding;
    }
    if (this.#listenersChange(changed)) {
      const { listeners, awaitRoutes } = this.#warmed(set);
      await this.listeners.apply(listeners, set.secrets, this.connections.handler);
      this.#servedListeners = listeners;
      this.#listenersAwaitRoutes = awaitRoutes;
    }
    // A cluster kept only for the tables just replaced can go now.
    if (next && this.#running.retained.length > 0) {
      const after = withRetainedClusters(set.clusters, set.endpoints, [...next.values()].map((x) => x.rc), this.#running);
      if (after.retained.join() !== this.#running.retained.join()) this.#runClusters(after, set);
    }
    if (is("listener")) this.#applied = true;
  }

  #runClusters(upstream: { clusters: ReadonlyMap<string, EnvoyResource>; endpoints: ReadonlyMap<string, EnvoyResource>; retained: readonly string[] }, set: XdsResourceSet): void {
    this.clusters.apply(upstream.clusters, upstream.endpoints, set.secrets);
    this.#running = upstream;
  }

  /**
   * First half of an update in node:cluster workers: listeners the update moves to a
   * conflicting address on the same port stop accepting, in every worker, before any
   * worker binds (a shared socket is only closed once all of them released it). `apply`
   * with the same set completes the update, or binds them again if it fails.
   */
  async prepare(set: XdsResourceSet, changed: ResourceKind | "all"): Promise<void> {
    if (this.#listenersChange(changed)) await this.listeners.prepare(this.#warmed(set).listeners);
  }

  /** Listeners are re-applied for their own changes, new certificates, and route tables some of them wait for. */
  #listenersChange(changed: ResourceKind | "all"): boolean {
    return changed === "all" || changed === "listener" || changed === "secret" || (changed === "route" && this.#listenersAwaitRoutes);
  }

  /**
   * Listeners whose certificates and route tables have arrived. Like Envoy's listener
   * warming: a listener naming an SDS secret or an RDS route table not received yet is not
   * served (a changed one keeps its previous version) until they arrive, which re-applies
   * the listeners. So a new listener is not bound to answer 404 while its routes are on
   * their way.
   */
  #warmed(set: XdsResourceSet): { listeners: ReadonlyMap<string, EnvoyResource>; awaitRoutes: boolean } {
    const out = new Map<string, EnvoyResource>();
    let awaitRoutes = false;
    for (const [name, l] of set.listeners) {
      const refs = referencedNames({ listeners: new Map([[name, l]]), clusters: new Map() });
      const routesIn = refs.route.every((r) => set.routes.has(r));
      if (!routesIn) awaitRoutes = true;
      if (routesIn && refs.secret.every((s) => set.secrets.has(s))) out.set(name, l);
      else {
        const previous = this.#servedListeners.get(name);
        if (previous) out.set(name, previous);
      }
    }
    return { listeners: out, awaitRoutes };
  }

  async close(): Promise<void> {
    await this.listeners.close();
    await this.clusters.close();
    this.connections.close();
  }
}

/**
 * Per-route filter configs and rate-limit actions are read by the filters, not the
 * router: check them when the table arrives, so a bad one is NACKed instead of failing
 * requests.
 */
function checkRouteFilterConfigs(rc: EnvoyResource): void {
  const perFilter = (o: EnvoyResource | undefined) => {
    const m = o?.typedPerFilterConfig as Record<string, EnvoyResource> | undefined;
    if (m) for (const [filter, config] of Object.entries(m)) checkRouteFilterConfig(filter, config);
  };
  perFilter(rc);
  for (const vh of (rc.virtualHosts as EnvoyResource[] | undefined) ?? []) {
    perFilter(vh);
    if (vh.rateLimits) checkRouteRateLimits(vh.rateLimits as EnvoyResource[], `route configuration ${String(rc.name)} virtual host ${String(vh.name)}`);
    for (const r of (vh.routes as EnvoyResource[] | undefined) ?? []) {
      perFilter(r);
      const action = r.route as EnvoyResource | undefined;
      const retryOn = ((action?.retryPolicy ?? vh.retryPolicy) as { retryOn?: string } | undefined)?.retryOn;
      if (retryOn) {
        const unsupported = unsupportedRetryConditions(retryOn.split(",").map((c) => c.trim()).filter(Boolean));
        if (unsupported.length > 0) throw new ProxyRouteUnsupportedError(`route configuration "${String(rc.name)}" route "${String(r.name)}"`, "route.retryPolicy.retryOn", `${unsupported.join(", ")} not supported by meshgate's proxy`);
      }
      if (action?.rateLimits) checkRouteRateLimits(action.rateLimits as EnvoyResource[], `route configuration ${String(rc.name)} route ${String(r.name)}`);
      for (const c of ((action?.weightedClusters as EnvoyResource | undefined)?.clusters as EnvoyResource[] | undefined) ?? []) perFilter(c);
    }
  }
}
