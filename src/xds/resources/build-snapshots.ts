// IrSnapshot -> SnapshotSet: every proxy's listeners, route tables, clusters, endpoints
// and secrets as encoded Envoy resources.
//
// Sharing: a cluster, its endpoints and a route table are converted and encoded once per
// build, and the same EncodedResource object is placed in every node snapshot that lists
// it. Listeners and secrets belong to one proxy and are encoded per proxy (still through
// the cache: identical input, identical object). The SnapshotBuilder keeps its cache
// across builds, so a rebuild after a small change re-encodes only what changed.

import { XdsUnsupportedError } from "../../errors.js";
import type { IrGlobalRateLimit, IrHttpConnectionManager, IrLocalRateLimit, IrProxy, IrRouteTable, IrSnapshot } from "../../ir/index.js";
import type { ResourceKind } from "../envoy-protos.js";
import type { CertificateSource } from "../certificate-source.js";
import type { EncodedResource, NodeSnapshot, SnapshotSet } from "../snapshot.js";
import { clusterResource, jwksClusterName, jwksClusterResource } from "./cluster.js";
import { clusterLoadAssignment } from "./cluster-load-assignment.js";
import { EncodeCache, type EncodeStats } from "./encode-cache.js";
import { listenerResource } from "./listener.js";
import { routeConfiguration, type RouteTableOptions } from "./route-configuration.js";
import { secretResource } from "./secret.js";

type Resources = Record<ResourceKind, Map<string, EncodedResource>>;

const emptyResources = (): Resources => ({ listener: new Map(), route: new Map(), cluster: new Map(), endpoint: new Map(), secret: new Map() });

export class SnapshotBuilder {
  private readonly cache = new EncodeCache();

  constructor(private readonly certs: CertificateSource) {}

  /** What the last build encoded and what it took from the cache. */
  get stats(): EncodeStats {
    return this.cache.stats;
  }

  /**
   * `version` defaults to the IR's configuration version; a rebuild of the same
   * configuration with renewed certificates passes its own (e.g. `7+certs.1`), so proxies
   * and the convergence tracker see a new version.
   */
  build(ir: IrSnapshot, version: string = String(ir.version)): SnapshotSet {
    this.cache.beginBuild();
    try {
      return new Build(ir, this.certs, this.cache, version).run();
    } finally {
      this.cache.endBuild();
    }
  }
}

/** One-off build (no cache kept between calls). */
export function buildSnapshots(ir: IrSnapshot, certs: CertificateSource): SnapshotSet {
  return new SnapshotBuilder(certs).build(ir);
}

/** What the listeners using a route table ask of it. */
interface TableUsage {
  grpc: boolean;
  local?: IrLocalRateLimit;
  global?: IrGlobalRateLimit;
  /** The first listener seen using it, to compare the others with. */
  limitsKey?: string;
  limitsFrom?: string;
}

class Build {
  private readonly usage = new Map<string, TableUsage>();
  private readonly clusters = new Map<string, EncodedResource>();
  private readonly endpoints = new Map<string, EncodedResource>();
  private readonly routes = new Map<string, EncodedResource>();
  private readonly localLimitTables = new Map<string, boolean>();
  /** Every sidecar of a service account shares its SVID and bundle: encoded once per build. */
  private readonly secrets = new Map<string, EncodedResource>();
  private readonly version: string;

  constructor(
    private readonly ir: IrSnapshot,
    private readonly certs: CertificateSource,
    private readonly cache: EncodeCache,
    version: string,
  ) {
    this.version = version;
  }

  run(): SnapshotSet {
    for (const p of this.ir.proxies) this.scanUsage(p);
    const nodes = new Map<string, NodeSnapshot>();
    let fallback: NodeSnapshot | undefined;
    for (const p of this.ir.proxies) {
      const node = this.node(p);
      if (p.role === "client") fallback = node;
      else nodes.set(p.id, node);
    }
    return { version: this.version, nodes, fallback: fallback ?? { version: this.version, resources: emptyResources() } };
  }

  private scanUsage(p: IrProxy): void {
    const hcms: { hcm: IrHttpConnectionManager; api: boolean; listener: string }[] = [];
    for (const l of p.listeners) {
      if (l.kind === "api") hcms.push({ hcm: l.http, api: true, listener: l.name });
      else for (const c of l.filterChains) hcms.push({ hcm: c.http, api: false, listener: l.name });
    }
    for (const { hcm, api, listener } of hcms) {
      let u = this.usage.get(hcm.routeTable);
      if (!u) this.usage.set(hcm.routeTable, (u = { grpc: false }));
      if (api) u.grpc = true;
      // Listener-wide rate limits are applied on every route of the listener's table, so
      // all listeners sharing a table must agree on them.
      const local = hcm.filters.localRateLimit;
      // A ratelimit filter without listener-wide rules puts nothing on the table's routes.
      const g = hcm.filters.globalRateLimit;
      const global = g && g.rules.length > 0 ? { domain: g.domain, rules: g.rules } : undefined;
      const key = JSON.stringify({ local, global });
      const where = `proxy ${p.id} listener ${listener}`;
      if (u.limitsKey === undefined) Object.assign(u, { limitsKey: key, limitsFrom: where, local, global });
      else if (u.limitsKey !== key) {
        throw new XdsUnsupportedError(where, `route table ${hcm.routeTable} is shared with ${u.limitsFrom}, whose listener-wide rate limits differ`);
      }
    }
  }

  private node(p: IrProxy): NodeSnapshot {
    const r = emptyResources();
    for (const l of p.listeners) {
      const tables = l.kind === "api" ? [l.http.routeTable] : l.filterChains.map((c) => c.http.routeTable);
      const flags = Object.fromEntries(tables.map((t) => [t, this.tableHasLocalLimits(t)]));
      r.listener.set(l.name, this.cache.get("listener", l.name, { l, flags }, () => listenerResource(l, { routesHaveLocalRateLimits: (t) => flags[t] ?? false })));
      // Remote JWKS are fetched through a cluster of their own.
      const https = l.kind === "api" ? [l.http] : l.filterChains.map((c) => c.http);
      for (const h of https) {
        for (const provider of h.filters.jwtAuthn?.providers ?? []) {
          if (!("uri" in provider.jwks)) continue;
          const uri = provider.jwks.uri;
          const name = jwksClusterName(uri);
          if (!r.cluster.has(name)) r.cluster.set(name, this.cache.get("cluster", name, { jwks: name, https: uri.startsWith("https:") }, () => jwksClusterResource(uri)));
        }
      }
    }
    for (const name of p.routeTables) r.route.set(name, this.route(name, p));
    for (const name of p.clusters) {
      r.cluster.set(name, this.cluster(name, p));
      // Static and DNS clusters carry their endpoints: nothing to serve over EDS.
      const endpoints = this.endpoints.get(name);
      if (endpoints) r.endpoint.set(name, endpoints);
    }
    // The fallback view is served to unauthenticated clients: never any key material.
    if (p.role !== "client") {
      for (const s of p.secrets) r.secret.set(s.name, this.secret(s));
    }
    return { version: this.version, resources: r };
  }

  private table(name: string, p: IrProxy): IrRouteTable {
    const t = this.ir.routeTables.get(name);
    if (!t) throw new XdsUnsupportedError(`proxy ${p.id}`, `route table ${name} is not in the snapshot`);
    return t;
  }

  private tableHasLocalLimits(name: string): boolean {
    let has = this.localLimitTables.get(name);
    if (has === undefined) {
      const t = this.ir.routeTables.get(name);
      has = (t?.virtualHosts.some((vh) => vh.routes.some((r) => (r.localRateLimit?.rules.length ?? 0) > 0)) ?? false) || (this.usage.get(name)?.local?.rules.length ?? 0) > 0;
      this.localLimitTables.set(name, has);
    }
    return has;
  }

  private route(name: string, p: IrProxy): EncodedResource {
    let res = this.routes.get(name);
    if (!res) {
      const t = this.table(name, p);
      const u = this.usage.get(name);
      const options: RouteTableOptions = { grpc: u?.grpc ?? false, listenerLocalRateLimit: u?.local, listenerGlobalRateLimit: u?.global };
      res = this.cache.get("route", name, { t, options }, () => routeConfiguration(t, options));
      this.routes.set(name, res);
    }
    return res;
  }

  private cluster(name: string, p: IrProxy): EncodedResource {
    let res = this.clusters.get(name);
    if (!res) {
      const c = this.ir.clusters.get(name);
      if (!c) throw new XdsUnsupportedError(`proxy ${p.id}`, `cluster ${name} is not in the snapshot`);
      // Endpoints change far more often than cluster settings: each is keyed on its own part.
      // (Static and DNS clusters embed theirs, so their endpoints are part of the cluster.)
      const { endpoints, ...settings } = c;
      res = this.cache.get("cluster", name, (c.discovery ?? "eds") === "eds" ? settings : c, () => clusterResource(c));
      this.clusters.set(name, res);
      if ((c.discovery ?? "eds") === "eds") this.endpoints.set(name, this.cache.get("endpoint", name, endpoints, () => clusterLoadAssignment(c)));
    }
    return res;
  }

  private secret(s: IrProxy["secrets"][number]): EncodedResource {
    // Within one build the certificate source's material is fixed: the description is the key.
    const key = s.kind === "svid" || s.kind === "trust-bundle" ? JSON.stringify(s) : undefined;
    if (key === undefined) return this.encodeSecret(s);
    let res = this.secrets.get(key);
    if (!res) this.secrets.set(key, (res = this.encodeSecret(s)));
    return res;
  }

  private encodeSecret(s: IrProxy["secrets"][number]): EncodedResource {
    // SVIDs and bundles come from the certificate source; their material is the input.
    const input = s.kind === "svid" ? { s, m: this.certs.svid(s.spiffeId) } : s.kind === "trust-bundle" ? { s, pem: this.certs.trustBundle(s.trustDomains) } : s;
    return this.cache.get("secret", s.name, input, () => secretResource(s, this.certs));
  }
}
