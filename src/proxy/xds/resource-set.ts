// The configuration a proxy holds: every resource it received over ADS, by type and name,
// and which resources those refer to by name (RDS route tables, EDS load assignments, SDS
// secrets), so the ADS client knows what to subscribe to and what is still missing.
//
// Resources are decoded Envoy v3 objects (see contracts.ts). Only the shapes the
// translator emits are walked; a reference in a shape the proxy does not know is not a
// subscription — the module that compiles that resource rejects it.

import type { EnvoyResource } from "../contracts.js";
import type { ResourceKind } from "../../xds/envoy-protos.js";

export interface XdsResourceSet {
  readonly listeners: ReadonlyMap<string, EnvoyResource>;
  readonly routes: ReadonlyMap<string, EnvoyResource>;
  readonly clusters: ReadonlyMap<string, EnvoyResource>;
  readonly endpoints: ReadonlyMap<string, EnvoyResource>;
  readonly secrets: ReadonlyMap<string, EnvoyResource>;
  /** Per type, the version_info of the last response accepted ("" until one is). */
  readonly versions: Readonly<Record<ResourceKind, string>>;
}

/** The types a proxy subscribes to by name, because other resources name them. */
export type ReferencedKind = "route" | "endpoint" | "secret";

export const REFERENCED_KINDS: readonly ReferencedKind[] = ["route", "endpoint", "secret"];

/** The XdsResourceSet field holding each type. */
export const SET_FIELD = {
  listener: "listeners",
  route: "routes",
  cluster: "clusters",
  endpoint: "endpoints",
  secret: "secrets",
} as const satisfies Record<ResourceKind, keyof XdsResourceSet>;

export const EMPTY_RESOURCE_SET: XdsResourceSet = Object.freeze({
  listeners: new Map(),
  routes: new Map(),
  clusters: new Map(),
  endpoints: new Map(),
  secrets: new Map(),
  versions: Object.freeze({ listener: "", route: "", cluster: "", endpoint: "", secret: "" }),
});

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * The names the set's listeners and clusters refer to, per type, sorted:
 * - route: `rds.routeConfigName` of every HttpConnectionManager (filter chains, the default
 *   filter chain, and API listeners);
 * - endpoint: `edsClusterConfig.serviceName`, or the cluster's name, of every EDS cluster;
 * - secret: every SDS secret config (one with `sdsConfig`) in the TLS contexts of listener
 *   filter chains and cluster transport sockets: certificates, validation contexts and
 *   combined validation contexts.
 */
export function referencedNames(set: Pick<XdsResourceSet, "listeners" | "clusters">): Record<ReferencedKind, string[]> {
  const route = new Set<string>();
  const endpoint = new Set<string>();
  const secret = new Set<string>();

  const hcm = (typed: unknown) => {
    const c = obj(typed);
    if (!c || c["@type"] !== HCM) return;
    const name = str(obj(c.rds)?.routeConfigName);
    if (name) route.add(name);
  };
  const sdsName = (cfg: unknown) => {
    const c = obj(cfg);
    if (!c || !obj(c.sdsConfig)) return;
    const name = str(c.name);
    if (name) secret.add(name);
  };
  const transportSocket = (ts: unknown) => {
    const common = obj(obj(obj(ts)?.typedConfig)?.commonTlsContext);
    if (!common) return;
    for (const c of arr(common.tlsCertificateSdsSecretConfigs)) sdsName(c);
    sdsName(common.validationContextSdsSecretConfig);
    sdsName(obj(common.combinedValidationContext)?.validationContextSdsSecretConfig);
  };
  const filterChain = (fc: unknown) => {
    const chain = obj(fc);
    if (!chain) return;
    for (const f of arr(chain.filters)) hcm(obj(f)?.typedConfig);
    transportSocket(chain.transportSocket);
  };

  for (const l of set.listeners.values()) {
    for (const fc of arr(l.filterChains)) filterChain(fc);
    filterChain(l.defaultFilterChain);
    hcm(obj(l.apiListener)?.apiListener);
  }
  for (const c of set.clusters.values()) {
    if (c.type === "EDS") {
      const name = str(obj(c.edsClusterConfig)?.serviceName) ?? str(c.name);
      if (name) endpoint.add(name);
    }
    transportSocket(c.transportSocket);
    for (const m of arr(c.transportSocketMatches)) transportSocket(obj(m)?.transportSocket);
  }
  return { route: [...route].sort(), endpoint: [...endpoint].sort(), secret: [...secret].sort() };
}
