// Policies of every supported kind: Istio security, Envoy Gateway's
// BackendTrafficPolicy, Gateway API's BackendTLSPolicy and meshgate's TokenExchange.
// Each resolves its targets here; the translator decides what they compile to.

import { condition, Reason, type Condition } from "../conditions.js";
import { secretValue } from "../gateway-api/gateways.js";
import type { PolicyModel } from "../model.js";
import type { ProblemSink } from "../problem-sink.js";
import type { AnyResource } from "../resource.js";
import type { ResourceIndex } from "../resource-index.js";
import { ROOT_NAMESPACE } from "./root-namespace.js";
import { GATEWAY_TARGET, GRPCROUTE_TARGET, HTTPROUTE_TARGET, resolvePolicyTargets, SERVICE_TARGET } from "./target-refs.js";
import { unsupportedBackendTrafficSettings, unsupportedIstioSecuritySettings } from "./unsupported-settings.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function buildPolicies(index: ResourceIndex, sink: ProblemSink): PolicyModel[] {
  const out: PolicyModel[] = [];
  for (const p of index.list("AuthorizationPolicy")) {
    const extra: Condition[] = [];
    if (p.spec.action === "CUSTOM") {
      // Skipping a policy we cannot enforce would fail open; refuse it instead.
      sink.report("error", "MG_UNSUPPORTED", p, ["spec", "action"], "action CUSTOM (external authorization) is not supported; use ALLOW, DENY or AUDIT", true);
      extra.push(condition("Accepted", "False", Reason.Invalid, "action CUSTOM is not supported"));
    }
    extra.push(...refuseIstioSettings(p, sink));
    out.push(resolvePolicyTargets(index, p, [GATEWAY_TARGET, SERVICE_TARGET], sink, extra));
  }
  for (const p of index.list("RequestAuthentication")) out.push(resolvePolicyTargets(index, p, [GATEWAY_TARGET, SERVICE_TARGET], sink, refuseIstioSettings(p, sink)));
  for (const p of index.list("PeerAuthentication")) {
    if (p.namespace === ROOT_NAMESPACE && Object.keys(p.spec.selector?.matchLabels ?? {}).length > 0) {
      // Istio reads only mesh-wide policies (no selector) from the root namespace.
      sink.warning("MG_INVALID_VALUE", p, ["spec", "selector"], `a PeerAuthentication with a selector in the root namespace (${ROOT_NAMESPACE}) applies to no workload, as in Istio; put it in the workloads' namespace, or drop the selector to make it mesh-wide`);
    }
    out.push(resolvePolicyTargets(index, p, [], sink));
  }
  for (const p of index.list("BackendTrafficPolicy")) {
    const extra: Condition[] = [];
    if (p.spec.targetSelectors) {
      sink.error("MG_UNSUPPORTED", p, ["spec", "targetSelectors"], "targetSelectors are not supported; name the targets with targetRefs");
      extra.push(condition("Accepted", "False", Reason.Invalid, "targetSelectors are not supported"));
    }
    const unsupported = unsupportedBackendTrafficSettings(p);
    for (const u of unsupported) sink.error("MG_UNSUPPORTED", p, u.path, u.message);
    if (unsupported.length > 0 && extra.length === 0) extra.push(condition("Accepted", "False", Reason.Invalid, unsupported[0]!.message));
    out.push(resolvePolicyTargets(index, p, [GATEWAY_TARGET, HTTPROUTE_TARGET, GRPCROUTE_TARGET], sink, extra));
  }
  for (const p of index.list("BackendTLSPolicy")) out.push(resolvePolicyTargets(index, p, [SERVICE_TARGET], sink, backendTlsRefs(index, p, sink)));
  for (const p of index.list("TokenExchange")) {
    const extra: Condition[] = [];
    const ref = p.spec.issue?.signingKeyRef;
    if (ref && !index.get("Secret", p.namespace, ref.name)) {
      sink.error("MG_TARGET_NOT_FOUND", p, ["spec", "issue", "signingKeyRef", "name"], `Secret ${p.namespace}/${ref.name} is not defined`);
      extra.push(condition("ResolvedRefs", "False", "InvalidSigningKeyRef", `Secret ${p.namespace}/${ref.name} is not defined`));
    }
    out.push(resolvePolicyTargets(index, p, [GATEWAY_TARGET], sink, extra));
  }
  return out;
}

/** Istio settings meshgate cannot enforce are blocking: ignoring them would change who is let in. */
function refuseIstioSettings(p: AnyResource, sink: ProblemSink): Condition[] {
  const unsupported = unsupportedIstioSecuritySettings(p);
  for (const u of unsupported) sink.report("error", "MG_UNSUPPORTED", p, u.path, u.message, true);
  return unsupported.length > 0 ? [condition("Accepted", "False", Reason.Invalid, unsupported[0]!.message)] : [];
}

/** BackendTLSPolicy's CA bundle: ConfigMaps in the policy's namespace with a PEM `ca.crt`. */
function backendTlsRefs(index: ResourceIndex, p: AnyResource, sink: ProblemSink): Condition[] {
  const refs: Obj[] = p.spec.validation?.caCertificateRefs ?? [];
  const noValidCa = condition("Accepted", "False", "NoValidCACertificate", "No usable CA certificate for validating the backend");
  for (const [i, ref] of refs.entries()) {
    const path = ["spec", "validation", "caCertificateRefs", i];
    if ((ref.group ?? "") !== "" || ref.kind !== "ConfigMap") {
      sink.error("MG_INVALID_KIND", p, [...path, "kind"], `caCertificateRef kind ${ref.kind} is not supported; use a ConfigMap with a ca.crt key`);
      return [noValidCa, condition("ResolvedRefs", "False", Reason.InvalidKind, `caCertificateRef kind ${ref.kind} is not supported`)];
    }
    const cm = index.get("ConfigMap", p.namespace, ref.name);
    const pem: unknown = cm ? ((cm.object as Obj).data?.["ca.crt"] ?? secretValue(cm.object as Obj, "ca.crt")) : undefined;
    if (!cm || typeof pem !== "string" || !pem.includes("-----BEGIN CERTIFICATE-----")) {
      const why = !cm ? `ConfigMap ${p.namespace}/${ref.name} is not defined` : `ConfigMap ${p.namespace}/${ref.name} has no PEM certificate under ca.crt`;
      sink.error("MG_TARGET_NOT_FOUND", p, [...path, "name"], why);
      return [noValidCa, condition("ResolvedRefs", "False", "InvalidCACertificateRef", why)];
    }
  }
  return [condition("ResolvedRefs", "True", Reason.ResolvedRefs, "All references resolved")];
}
