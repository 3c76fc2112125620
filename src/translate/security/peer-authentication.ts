// PeerAuthentication -> the inbound mTLS mode of one Workload port, with Istio's precedence:
// the workload's own policy (selector, in the workload's namespace) over its namespace's
// policy over the mesh-wide one (root namespace, no selector); a selector policy in the
// root namespace is ignored, as Istio ignores it (unlike AuthorizationPolicy, where it
// selects workloads of every namespace); `portLevelMtls[port]` over the workload policy's mode;
// `UNSET` (or no mtls at all) inherits from the level above; nothing set anywhere means
// PERMISSIVE, Istio's default. When several policies compete at one level, the oldest
// wins (creationTimestamp, then namespace/name), as in Istio.

import type { IrMtlsMode } from "../../ir/index.js";
import type { Model, WorkloadModel } from "../../model/index.js";
import { oldestFirst } from "../policy-order.js";
import { appliesTo, ROOT_NAMESPACE, workloadSelector } from "./policy-selection.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const DEFAULT_MTLS_MODE: IrMtlsMode = "PERMISSIVE";

/**
 * `port` is the workload's application port (WorkloadModel.port): Istio keys
 * portLevelMtls by the port the workload itself listens on.
 */
export function mtlsModeFor(model: Model, workload: WorkloadModel, port: number): IrMtlsMode {
  const target = { kind: "sidecar", workload } as const;
  const candidates = model.policies.filter((p) => p.resource.kind === "PeerAuthentication" && appliesTo(model, p, target)).sort(oldestFirst);
  const unselected = candidates.filter((p) => !workloadSelector(p));
  const mesh = unselected.find((p) => p.resource.namespace === ROOT_NAMESPACE);
  const namespace = unselected.find((p) => p.resource.namespace === workload.namespace && workload.namespace !== ROOT_NAMESPACE);
  const own = candidates.find((p) => workloadSelector(p) !== undefined && p.resource.namespace !== ROOT_NAMESPACE);

  let mode = DEFAULT_MTLS_MODE;
  for (const p of [mesh, namespace, own]) mode = modeOf((p?.resource.spec as Obj | undefined)?.mtls) ?? mode;
  if (own) mode = modeOf((own.resource.spec as Obj).portLevelMtls?.[String(port)]) ?? mode;
  return mode;
}

/** The mode a `{ mode }` block sets, or undefined when it inherits (absent or UNSET). */
function modeOf(block: Obj | undefined): IrMtlsMode | undefined {
  const m = block?.mode;
  return m === "STRICT" || m === "PERMISSIVE" || m === "DISABLE" ? m : undefined;
}

