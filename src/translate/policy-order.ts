// Deterministic order of policies: by name, and oldest-first where policies compete.

import type { PolicyModel } from "../model/index.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function qualifiedName(p: PolicyModel): string {
  return `${p.resource.namespace}/${p.resource.name}`;
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Oldest first (metadata.creationTimestamp), then by namespace/name: Istio's and Gateway
 * API's tie-break between conflicting policies. A policy without a timestamp (plain
 * files usually have none) counts as newer than any that has one.
 */
export function oldestFirst(a: PolicyModel, b: PolicyModel): number {
  const ta = creationTime(a);
  const tb = creationTime(b);
  if (ta !== tb) return ta - tb;
  return compare(qualifiedName(a), qualifiedName(b));
}

function creationTime(p: PolicyModel): number {
  const raw = ((p.resource.object as Obj).metadata as Obj | undefined)?.creationTimestamp;
  const t = raw instanceof Date ? raw.getTime() : typeof raw === "string" ? Date.parse(raw) : NaN;
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}
