// ReferenceGrant: a reference from one namespace to an object in another is allowed only
// when a ReferenceGrant in the target's namespace lists the source (group, kind,
// namespace) and the target (group, kind, optional name).

import type { ResourceIndex } from "../resource-index.js";

export interface RefFrom {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

export interface RefTo {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export function isReferenceAllowed(index: ResourceIndex, from: RefFrom, to: RefTo): boolean {
  if (from.namespace === to.namespace) return true;
  for (const grant of index.list("ReferenceGrant")) {
    if (grant.namespace !== to.namespace) continue;
    const spec = grant.spec as { from: RefFrom[]; to: { group: string; kind: string; name?: string }[] };
    const fromOk = spec.from.some((f) => f.group === from.group && f.kind === from.kind && f.namespace === from.namespace);
    if (!fromOk) continue;
    const toOk = spec.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === "" || t.name === to.name));
    if (toOk) return true;
  }
  return false;
}
