// Policy attachment: resolves a policy's targetRef / targetRefs (same namespace, per the
// Gateway API policy attachment rules) to the resources it applies to.

import { condition, Reason, type Condition } from "../conditions.js";
import type { PolicyModel } from "../model.js";
import type { ProblemSink } from "../problem-sink.js";
import type { KindName } from "../kinds.js";
import type { AnyResource } from "../resource.js";
import type { ResourceIndex } from "../resource-index.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface TargetKind {
  readonly group: string;
  readonly kind: KindName;
}

export const GATEWAY_TARGET: TargetKind = { group: "gateway.networking.k8s.io", kind: "Gateway" };
export const SERVICE_TARGET: TargetKind = { group: "", kind: "Service" };
export const HTTPROUTE_TARGET: TargetKind = { group: "gateway.networking.k8s.io", kind: "HTTPRoute" };
export const GRPCROUTE_TARGET: TargetKind = { group: "gateway.networking.k8s.io", kind: "GRPCRoute" };

/**
 * Resolves `spec.targetRef` and `spec.targetRefs[]`. Unknown kinds and missing targets are
 * reported; the policy is Accepted when at least one target resolves (or it has none and
 * relies on a selector).
 */
export function resolvePolicyTargets(index: ResourceIndex, policy: AnyResource, allowed: readonly TargetKind[], sink: ProblemSink, extra: Condition[] = []): PolicyModel {
  const spec = policy.spec as Obj;
  const refs: [Obj, (string | number)[]][] = [];
  if (spec.targetRef) refs.push([spec.targetRef, ["spec", "targetRef"]]);
  ((spec.targetRefs ?? []) as Obj[]).forEach((t, i) => refs.push([t, ["spec", "targetRefs", i]]));

  const targets: AnyResource[] = [];
  let failure: Condition | undefined;
  for (const [ref, path] of refs) {
    const group: string = ref.group ?? "";
    const kind = allowed.find((k) => k.group === group && k.kind === ref.kind);
    if (!kind) {
      const list = allowed.map((k) => (k.group ? `${k.group}/${k.kind}` : k.kind)).join(", ");
      sink.error("MG_INVALID_KIND", policy, [...path, "kind"], `${policy.kind} cannot target ${group ? group + "/" : ""}${ref.kind}; supported targets: ${list}`);
      failure ??= condition("Accepted", "False", Reason.Invalid, `target kind ${ref.kind} is not supported`);
      continue;
    }
    const target = index.get(kind.kind, policy.namespace, ref.name);
    if (!target) {
      sink.error("MG_TARGET_NOT_FOUND", policy, [...path, "name"], `${kind.kind} ${policy.namespace}/${ref.name} is not defined (a policy targets resources in its own namespace)`);
      failure ??= condition("Accepted", "False", Reason.TargetNotFound, `${kind.kind} ${policy.namespace}/${ref.name} is not defined`);
      continue;
    }
    targets.push(target);
  }
  const accepted =
    refs.length > 0 && targets.length === 0
      ? failure!
      : (extra.find((c) => c.type === "Accepted") ?? failure ?? condition("Accepted", "True", Reason.Accepted, "Policy accepted"));
  return { resource: policy, targets, conditions: [accepted, ...extra.filter((c) => c.type !== "Accepted")] };
}
