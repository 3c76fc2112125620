// What the ADS server serves: per proxy, per resource type, encoded resources. Encoded
// resources are immutable and shared: a cluster that 1,000 proxies receive is encoded
// once and the same object sits in 1,000 snapshots.

import type { ResourceKind } from "./envoy-protos.js";

export interface EncodedResource {
  readonly name: string;
  /** Content hash: equal bytes, equal version (Delta xDS sends only what changed). */
  readonly version: string;
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

export type ResourceSet = ReadonlyMap<string, EncodedResource>;

export interface NodeSnapshot {
  /** The configuration version these resources were compiled from (SotW version_info). */
  readonly version: string;
  readonly resources: Readonly<Record<ResourceKind, ResourceSet>>;
}

/** The whole configuration, compiled for every known proxy. */
export interface SnapshotSet {
  readonly version: string;
  /** By node id. */
  readonly nodes: ReadonlyMap<string, NodeSnapshot>;
  /** Served to any node id not in `nodes` (proxyless gRPC clients); never holds secrets. */
  readonly fallback: NodeSnapshot;
}
