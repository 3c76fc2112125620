// Which Istio security policies (AuthorizationPolicy, RequestAuthentication,
// PeerAuthentication) apply to a proxy, with Istio's rules:
// - a policy in the root namespace without a selector applies to every proxy;
// - a policy without selector or targetRef applies to every proxy in its namespace;
// - a `selector.matchLabels` picks the proxies of its namespace whose labels match (in the
//   root namespace: of every namespace);
// - `targetRef(s)` to a Gateway applies to that Gateway's proxy; to a Service, to the
//   sidecars of the Workloads backing it. A policy with targetRefs that resolved to
//   nothing applies to nothing (never namespace-wide).
// A Gateway's proxy counts as a workload of the Gateway's namespace, labelled like the
// pods Istio deploys for a Gateway: the Gateway's labels, `spec.infrastructure.labels` and
// `gateway.networking.k8s.io/gateway-name: <name>`.

import type { Model, PolicyModel } from "../../model/index.js";
import { matchesSelector } from "../../model/label-selector.js";
import { ROOT_NAMESPACE } from "../../model/policies/root-namespace.js";
import { compare, qualifiedName } from "../policy-order.js";
import type { ProxyTarget } from "../proxy-target.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export { ROOT_NAMESPACE };

export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

export type SecurityKind = "AuthorizationPolicy" | "RequestAuthentication" | "PeerAuthentication";

/** The namespace and labels a proxy is selected by. */
export function proxyLabels(target: ProxyTarget): { namespace: string; labels: Readonly<Record<string, string>> } {
  if (target.kind === "sidecar") return { namespace: target.workload.namespace, labels: target.workload.labels };
  const gw = target.gateway.resource;
  const infra: Record<string, string> = (gw.spec as Obj).infrastructure?.labels ?? {};
  return { namespace: gw.namespace, labels: { ...gw.labels, ...infra, [GATEWAY_NAME_LABEL]: gw.name } };
}

export function hasTargetRefs(p: PolicyModel): boolean {
  const s = p.resource.spec as Obj;
  return s.targetRef !== undefined || (Array.isArray(s.targetRefs) && s.targetRefs.length > 0);
}

/** `selector.matchLabels` when it selects something; an empty selector is no selector, as in Istio. */
export function workloadSelector(p: PolicyModel): Record<string, string> | undefined {
  const labels = (p.resource.spec as Obj).selector?.matchLabels as Record<string, string> | undefined;
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

/** Does this policy apply to the proxy? */
export function appliesTo(model: Model, p: PolicyModel, target: ProxyTarget): boolean {
  if (hasTargetRefs(p)) return p.targets.some((t) => targetIs(model, t, target));
  const { namespace, labels } = proxyLabels(target);
  const ns = p.resource.namespace;
  const selector = workloadSelector(p);
  if (!selector) return ns === ROOT_NAMESPACE || ns === namespace;
  return (ns === ROOT_NAMESPACE || ns === namespace) && matchesSelector({ matchLabels: selector }, labels);
}

function targetIs(model: Model, t: PolicyModel["targets"][number], target: ProxyTarget): boolean {
  if (t.kind === "Gateway") {
    return target.kind === "gateway" && target.gateway.resource.namespace === t.namespace && target.gateway.resource.name === t.name;
  }
  if (t.kind === "Service" && target.kind === "sidecar") {
    const svc = model.services.find((s) => s.namespace === t.namespace && s.name === t.name);
    return svc !== undefined && svc.workloads.includes(`${target.workload.namespace}/${target.workload.name}`);
  }
  return false;
}

/** Policies of one kind that apply to the proxy, ordered by namespace/name. */
export function policiesFor(model: Model, kind: SecurityKind, target: ProxyTarget): PolicyModel[] {
  return model.policies
    .filter((p) => p.resource.kind === kind && appliesTo(model, p, target))
    .sort((a, b) => compare(qualifiedName(a), qualifiedName(b)));
}
