// A decoded, schema-valid resource plus where it came from. Specs are typed by the
// upstream TypeScript interfaces of each kind (see types.ts).

import type { SourceDocument } from "../config/yaml-documents.js";
import type { FieldPath, SourcePosition } from "../config/source-position.js";
import type { KindName } from "./kinds.js";

export interface Resource<Spec = unknown> {
  readonly apiVersion: string;
  /** API group; "" for core kinds. */
  readonly group: string;
  readonly kind: KindName;
  readonly name: string;
  /** "" for cluster-scoped kinds. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly spec: Spec;
  /** The whole document (Secrets and ConfigMaps keep their payload outside `spec`). */
  readonly object: Readonly<Record<string, unknown>>;
  readonly source: SourceDocument;
}

export type AnyResource = Resource<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `HTTPRoute default/reviews`, or `GatewayClass meshgate` for cluster-scoped kinds. */
export function displayName(r: { kind: string; namespace: string; name: string }): string {
  return r.namespace ? `${r.kind} ${r.namespace}/${r.name}` : `${r.kind} ${r.name}`;
}

export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function positionOf(r: Resource, path: FieldPath = []): SourcePosition {
  return r.source.locate(path);
}
