// The IR: what every proxy needs, compiled from the model and nothing else. It is the
// contract between `translate/` (which decides) and `xds/` (which only formats for the
// wire). Clusters and route tables are shared between proxies (a definition that is the
// same for many proxies is compiled and encoded once); listeners and secrets belong to
// one proxy.

import type { IrCluster } from "./cluster.js";
import type { IrListener } from "./listener.js";
import type { IrRouteTable } from "./route.js";
import type { IrSecret } from "./secret.js";

export type IrProxyRole = "gateway" | "sidecar" | "client";

export interface IrProxy {
  /**
   * The xDS node.id this proxy connects with: `gateway~<namespace>~<name>`,
   * `sidecar~<namespace>~<workload>`. Role `client` is the view served to any node
   * that is not a known proxy (proxyless gRPC clients): its id is `*`.
   */
  readonly id: string;
  readonly role: IrProxyRole;
  readonly namespace: string;
  readonly name: string;
  /** SPIFFE ID of the proxy's SVID (secret `default`); absent outside a mesh. */
  readonly identity?: string;
  readonly listeners: readonly IrListener[];
  /** Names of the route tables (snapshot.routeTables) its listeners use, sorted. */
  readonly routeTables: readonly string[];
  /** Names of the clusters (snapshot.clusters) its routes use, sorted. */
  readonly clusters: readonly string[];
  /** Secrets this proxy (and only this proxy) receives. */
  readonly secrets: readonly IrSecret[];
}

export interface IrSnapshot {
  /** The configuration version it was compiled from. */
  readonly version: number;
  /** Sorted by id; deterministic. */
  readonly proxies: readonly IrProxy[];
  readonly routeTables: ReadonlyMap<string, IrRouteTable>;
  readonly clusters: ReadonlyMap<string, IrCluster>;
}

/** Node ids, one place. */
export const proxyId = {
  gateway: (namespace: string, name: string) => `gateway~${namespace}~${name}`,
  sidecar: (namespace: string, workload: string) => `sidecar~${namespace}~${workload}`,
  client: "*",
} as const;
