// AuthorizationPolicy -> IrAuthorization for one proxy. Which policies apply is decided in
// policy-selection.ts; each keeps Istio's rule structure (see src/ir/security.ts).
// Principals are normalised to full SPIFFE IDs here so no consumer has to know Istio's
// shorthand (see normalisePrincipal).

import { TranslateUnsupportedError } from "../../errors.js";
import type { IrAuthorization, IrAuthzCondition, IrAuthzOperation, IrAuthzPolicy, IrAuthzRule, IrAuthzSource } from "../../ir/index.js";
import type { Model, PolicyModel } from "../../model/index.js";
import type { ProxyTarget } from "../proxy-target.js";
import { compare, qualifiedName } from "../policy-order.js";
import { policiesFor, proxyLabels } from "./policy-selection.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ACTION_ORDER: Record<IrAuthzPolicy["action"], number> = { DENY: 0, ALLOW: 1, AUDIT: 2 };

/** Istio's placeholder for "this mesh's trust domain" in principals. */
const LOCAL_TRUST_DOMAIN_ALIAS = "cluster.local";
const SPIFFE_SCHEME = "spiffe://";

export function authorizationFor(model: Model, target: ProxyTarget): IrAuthorization | undefined {
  const policies = policiesFor(model, "AuthorizationPolicy", target);
  if (policies.length === 0) return undefined;
  const trustDomain = localTrustDomain(model, target);
  const port = localPort(target);
  const ir = policies.map((p) => toIrPolicy(p, trustDomain, port));
  ir.sort((a, b) => ACTION_ORDER[a.action] - ACTION_ORDER[b.action] || compare(a.name, b.name));
  return { policies: ir };
}

/** Maps a port as Istio means it (the port the workload listens on) to the port the proxy accepts it on. */
type PortMap = (port: number) => number;

/**
 * Istio's `ports` and `destination.port` name the port the workload listens on. A sidecar
 * accepts that traffic on its own inbound port, which is what the proxy sees as the
 * destination port, so the workload's port becomes the inbound port; any other port can
 * never reach the sidecar and becomes 0 (no connection has it). A Gateway's proxy
 * listens on the ports themselves.
 */
function localPort(target: ProxyTarget): PortMap {
  if (target.kind === "gateway") return (p) => p;
  const { port, inboundPort } = target.workload;
  return (p) => (p === port ? inboundPort : 0);
}

function toIrPolicy(p: PolicyModel, trustDomain: string | undefined, port: PortMap): IrAuthzPolicy {
  const spec = p.resource.spec as Obj;
  const action = spec.action ?? "ALLOW";
  if (action !== "ALLOW" && action !== "DENY" && action !== "AUDIT") {
    // The model refuses CUSTOM as blocking; reaching here means a model bug, and
    // dropping the policy would fail open.
    throw new TranslateUnsupportedError(`AuthorizationPolicy ${qualifiedName(p)}`, `action ${String(action)} is not supported`);
  }
  return { name: qualifiedName(p), action, rules: ((spec.rules ?? []) as Obj[]).map((r) => toIrRule(r, trustDomain, port)) };
}

function toIrRule(rule: Obj, trustDomain: string | undefined, port: PortMap): IrAuthzRule {
  const from = ((rule.from ?? []) as Obj[]).map((f) => toIrSource(f.source ?? {}, trustDomain));
  const to = ((rule.to ?? []) as Obj[]).map((t) => toIrOperation(t.operation ?? {}, port));
  const when = ((rule.when ?? []) as Obj[]).map((w) => toIrCondition(w, trustDomain, port));
  return { ...(from.length > 0 ? { from } : {}), ...(to.length > 0 ? { to } : {}), ...(when.length > 0 ? { when } : {}) };
}

function toIrSource(s: Obj, trustDomain: string | undefined): IrAuthzSource {
  const principals = (list: string[] | undefined) => list?.map((v) => normalisePrincipal(v, trustDomain));
  return compact({
    principals: principals(s.principals),
    notPrincipals: principals(s.notPrincipals),
    requestPrincipals: s.requestPrincipals,
    notRequestPrincipals: s.notRequestPrincipals,
    namespaces: s.namespaces,
    notNamespaces: s.notNamespaces,
    ipBlocks: s.ipBlocks,
    notIpBlocks: s.notIpBlocks,
    remoteIpBlocks: s.remoteIpBlocks,
    notRemoteIpBlocks: s.notRemoteIpBlocks,
  });
}

function toIrOperation(o: Obj, port: PortMap): IrAuthzOperation {
  const ports = (list: string[] | undefined) => list?.map((p) => port(Number(p)));
  return compact({
    hosts: o.hosts,
    notHosts: o.notHosts,
    ports: ports(o.ports),
    notPorts: ports(o.notPorts),
    methods: o.methods,
    notMethods: o.notMethods,
    paths: o.paths,
    notPaths: o.notPaths,
  });
}

function toIrCondition(w: Obj, trustDomain: string | undefined, port: PortMap): IrAuthzCondition {
  // `source.principal` values are principals too, written and normalised the same way;
  // `destination.port` values are ports, mapped like `to.operation.ports`.
  const norm = (list: string[] | undefined) =>
    w.key === "source.principal"
      ? list?.map((v) => normalisePrincipal(v, trustDomain))
      : w.key === "destination.port"
        ? list?.map((v) => (/^[0-9]+$/.test(v) ? String(port(Number(v))) : v))
        : list;
  return compact({ key: w.key as string, values: norm(w.values), notValues: norm(w.notValues) });
}

/**
 * Istio writes principals without the scheme (`cluster.local/ns/a/sa/b`); the IR holds the
 * full SPIFFE ID the peer's certificate carries (`spiffe://cluster.local/ns/a/sa/b`), with
 * the IR's wildcards: `*` alone (any authenticated peer), a `x*` prefix (scheme added) or
 * a `*x` suffix (left as is). A value already written with `spiffe://` is not doubled. As
 * in Istio, the trust domain `cluster.local` stands for the proxy's own mesh trust domain.
 */
export function normalisePrincipal(value: string, trustDomain: string | undefined): string {
  if (value === "*" || value.startsWith("*")) return value;
  let id = value.startsWith(SPIFFE_SCHEME) ? value.slice(SPIFFE_SCHEME.length) : value;
  const slash = id.indexOf("/");
  if (trustDomain && slash > 0 && id.slice(0, slash) === LOCAL_TRUST_DOMAIN_ALIAS) id = trustDomain + id.slice(slash);
  return SPIFFE_SCHEME + id;
}

/** The trust domain of the mesh the proxy belongs to, if any. */
function localTrustDomain(model: Model, target: ProxyTarget): string | undefined {
  if (target.kind === "sidecar") return target.workload.mesh?.trustDomain;
  const { namespace } = proxyLabels(target);
  return model.meshes.find((m) => m.namespaces.includes(namespace))?.trustDomain;
}

/** Drops absent fields, so "not constrained" is always an absent key. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
