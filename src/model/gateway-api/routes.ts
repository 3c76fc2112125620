// HTTPRoute and GRPCRoute: attachment to parents (Gateway listeners, or a Service for
// GAMMA east-west routing) and backendRef resolution, with the spec's status reasons.

import { condition, Reason, type Condition } from "../conditions.js";
import { matchesSelector } from "../label-selector.js";
import type { BackendModel, GatewayModel, ListenerModel, ParentRefKey, RouteModel, RouteParentModel, RouteRuleModel, ServiceModel } from "../model.js";
import type { ProblemSink } from "../problem-sink.js";
import type { AnyResource } from "../resource.js";
import type { ResourceIndex } from "../resource-index.js";
import { intersectHostnames } from "./hostnames.js";
import { isReferenceAllowed } from "./reference-grants.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Path = (string | number)[];

const GW_GROUP = "gateway.networking.k8s.io";

export function buildRoutes(
  index: ResourceIndex,
  gateways: readonly GatewayModel[],
  services: ReadonlyMap<string, ServiceModel>,
  sink: ProblemSink,
): RouteModel[] {
  const gatewaysByKey = new Map(gateways.map((g) => [`${g.resource.namespace}/${g.resource.name}`, g]));
  const routes: RouteModel[] = [];
  for (const kind of ["HTTPRoute", "GRPCRoute"] as const) {
    for (const route of index.list(kind)) {
      const model = buildRoute(index, route, kind, gatewaysByKey, services, sink);
      if (model.parents.length > 0) routes.push(model);
    }
  }
  return routes;
}

function buildRoute(
  index: ResourceIndex,
  route: AnyResource,
  kind: "HTTPRoute" | "GRPCRoute",
  gateways: ReadonlyMap<string, GatewayModel>,
  services: ReadonlyMap<string, ServiceModel>,
  sink: ProblemSink,
): RouteModel {
  const spec = route.spec as Obj;
  const hostnames: string[] = spec.hostnames ?? [];

  // Backends first: their ResolvedRefs condition goes on every parent's status.
  let refsCondition: Condition = condition("ResolvedRefs", "True", Reason.ResolvedRefs, "All references resolved");
  const resolve = (ref: Obj, path: Path): BackendModel => {
    const b = resolveBackend(index, route, kind, ref, path, services, sink);
    if (!b.valid && refsCondition.status === "True") refsCondition = condition("ResolvedRefs", "False", b.reason, b.message);
    return b;
  };
  const rules: RouteRuleModel[] = ((spec.rules ?? []) as Obj[]).map((rule, ri) => {
    const at: Path = ["spec", "rules", ri];
    const backends = ((rule.backendRefs ?? []) as Obj[]).map((ref, bi) => resolve(ref, [...at, "backendRefs", bi]));
    const mirrors: BackendModel[] = [];
    ((rule.filters ?? []) as Obj[]).forEach((f, fi) => {
      if (f.type === "RequestMirror") mirrors.push(resolve(f.requestMirror.backendRef, [...at, "filters", fi, "requestMirror", "backendRef"]));
      if (f.type === "ExtensionRef") {
        sink.error("MG_UNSUPPORTED", route, [...at, "filters", fi], "ExtensionRef filters are not supported");
        if (refsCondition.status === "True") refsCondition = condition("ResolvedRefs", "False", Reason.InvalidKind, "ExtensionRef filters are not supported");
      }
    });
    return { index: ri, name: rule.name, spec: rule, backends, mirrors };
  });

  const parents: RouteParentModel[] = [];
  ((spec.parentRefs ?? []) as Obj[]).forEach((ref, pi) => {
    const at: Path = ["spec", "parentRefs", pi];
    const key: ParentRefKey = {
      group: ref.group ?? GW_GROUP,
      kind: ref.kind ?? "Gateway",
      namespace: ref.namespace ?? route.namespace,
      name: ref.name,
      ...(ref.sectionName !== undefined ? { sectionName: ref.sectionName } : {}),
      ...(ref.port !== undefined ? { port: ref.port } : {}),
    };
    if (key.group === GW_GROUP && key.kind === "Gateway") {
      const gwResource = index.get("Gateway", key.namespace, key.name);
      if (!gwResource) {
        sink.error("MG_PARENT_NOT_FOUND", route, at, `Gateway ${key.namespace}/${key.name} is not defined`);
        parents.push(unresolvedParent(key, refsCondition, `Gateway ${key.namespace}/${key.name} is not defined`));
        return;
      }
      const gw = gateways.get(`${key.namespace}/${key.name}`);
      if (!gw) return; // another controller's Gateway
      parents.push(attachToGateway(index, route, kind, hostnames, gw, key, at, refsCondition, sink));
    } else if (key.group === "" && key.kind === "Service") {
      const svc = services.get(`${key.namespace}/${key.name}`);
      let accepted = condition("Accepted", "True", Reason.Accepted, "Route applies to traffic for this Service");
      if (!svc) {
        sink.error("MG_PARENT_NOT_FOUND", route, at, `Service ${key.namespace}/${key.name} is not defined`);
        accepted = condition("Accepted", "False", Reason.NoMatchingParent, `Service ${key.namespace}/${key.name} is not defined`);
      } else if (key.port !== undefined && !svc.ports.some((p) => p.port === key.port)) {
        sink.error("MG_ROUTE_NOT_ACCEPTED", route, [...at, "port"], `Service ${key.namespace}/${key.name} has no port ${key.port}`);
        accepted = condition("Accepted", "False", Reason.NoMatchingParent, `Service has no port ${key.port}`);
      }
      parents.push({ kind: "Service", service: svc, port: key.port, ref: key, conditions: [accepted, refsCondition] });
    } else {
      sink.error("MG_INVALID_KIND", route, at, `parentRef kind ${key.group ? key.group + "/" : ""}${key.kind} is not supported; use a Gateway or a Service`);
      parents.push(unresolvedParent(key, refsCondition, `parent kind ${key.kind} is not supported`, Reason.UnsupportedValue));
    }
  });
  return { resource: route, kind, hostnames, parents, rules };
}

function unresolvedParent(key: ParentRefKey, refs: Condition, message: string, reason: string = Reason.NoMatchingParent): RouteParentModel {
  return { kind: "Unresolved", ref: key, conditions: [condition("Accepted", "False", reason, message), refs] };
}

function attachToGateway(
  index: ResourceIndex,
  route: AnyResource,
  kind: "HTTPRoute" | "GRPCRoute",
  hostnames: readonly string[],
  gw: GatewayModel,
  key: ParentRefKey,
  at: Path,
  refs: Condition,
  sink: ProblemSink,
): RouteParentModel {
  const reject = (reason: string, message: string, path: Path = at): RouteParentModel => {
    sink.error("MG_ROUTE_NOT_ACCEPTED", route, path, message);
    return { kind: "Gateway", gateway: gw, listeners: [], ref: key, conditions: [condition("Accepted", "False", reason, message), refs] };
  };
  const gwName = `${gw.resource.namespace}/${gw.resource.name}`;
  let candidates: ListenerModel[] = gw.listeners;
  if (key.sectionName !== undefined) {
    candidates = candidates.filter((l) => l.name === key.sectionName);
    if (candidates.length === 0) return reject(Reason.NoMatchingParent, `Gateway ${gwName} has no listener named "${key.sectionName}"`, [...at, "sectionName"]);
  }
  if (key.port !== undefined) {
    candidates = candidates.filter((l) => l.port === key.port);
    if (candidates.length === 0) return reject(Reason.NoMatchingParent, `Gateway ${gwName} has no listener on port ${key.port}${key.sectionName ? ` named "${key.sectionName}"` : ""}`, [...at, "port"]);
  }
  const ready = candidates.filter((l) => l.ready);
  if (ready.length === 0) return reject(Reason.NoMatchingParent, `no valid listener of Gateway ${gwName} matches (listener(s) ${candidates.map((l) => l.name).join(", ")} are not valid)`);

  const allowed = ready.filter((l) => listenerAllows(index, gw, l, route, kind));
  if (allowed.length === 0) {
    return reject(Reason.NotAllowedByListeners, `listener(s) ${ready.map((l) => l.name).join(", ")} of Gateway ${gwName} do not allow ${kind}s from namespace ${route.namespace}`);
  }
  const attached = allowed
    .map((listener) => ({ listener, ...intersectHostnames(listener.hostname, hostnames) }))
    .filter((a) => a.any || a.hostnames.length > 0);
  if (attached.length === 0) {
    return reject(
      Reason.NoMatchingListenerHostname,
      `none of the route's hostnames (${hostnames.join(", ")}) match listener hostname(s) ${allowed.map((l) => l.hostname ?? "*").join(", ")} of Gateway ${gwName}`,
      ["spec", "hostnames"],
    );
  }
  for (const a of attached) a.listener.attachedRoutes++;
  return {
    kind: "Gateway",
    gateway: gw,
    listeners: attached,
    ref: key,
    conditions: [condition("Accepted", "True", Reason.Accepted, `Attached to listener(s) ${attached.map((a) => a.listener.name).join(", ")}`), refs],
  };
}

function listenerAllows(index: ResourceIndex, gw: GatewayModel, l: ListenerModel, route: AnyResource, kind: string): boolean {
  if (!l.supportedKinds.some((k) => k.kind === kind)) return false;
  const raw = (gw.resource.spec as Obj).listeners.find((x: Obj) => x.name === l.name);
  const from: string = raw?.allowedRoutes?.namespaces?.from ?? "Same";
  switch (from) {
    case "All":
      return true;
    case "Same":
      return route.namespace === gw.resource.namespace;
    case "Selector":
      return matchesSelector(raw.allowedRoutes.namespaces.selector, index.namespaceLabels(route.namespace));
    default:
      return false;
  }
}

function resolveBackend(
  index: ResourceIndex,
  route: AnyResource,
  kind: string,
  ref: Obj,
  at: Path,
  services: ReadonlyMap<string, ServiceModel>,
  sink: ProblemSink,
): BackendModel {
  const weight: number = ref.weight ?? 1;
  const group: string = ref.group ?? "";
  const refKind: string = ref.kind ?? "Service";
  const ns: string = ref.namespace ?? route.namespace;
  const invalid = (reason: string, code: Parameters<ProblemSink["error"]>[0], message: string, path: Path = at): BackendModel => {
    sink.error(code, route, path, message);
    return { valid: false, weight, reason, message };
  };
  if (group !== "" || refKind !== "Service") {
    return invalid(Reason.InvalidKind, "MG_INVALID_KIND", `backend kind ${group ? group + "/" : ""}${refKind} is not supported; use a Service`, [...at, "kind"]);
  }
  if (!isReferenceAllowed(index, { group: GW_GROUP, kind, namespace: route.namespace }, { group: "", kind: "Service", namespace: ns, name: ref.name })) {
    return invalid(Reason.RefNotPermitted, "MG_REF_NOT_PERMITTED", `Service ${ns}/${ref.name} is in another namespace and no ReferenceGrant in ${ns} allows ${kind}s from ${route.namespace}`, [...at, "namespace"]);
  }
  const svc = services.get(`${ns}/${ref.name}`);
  if (!svc) return invalid(Reason.BackendNotFound, "MG_BACKEND_NOT_FOUND", `Service ${ns}/${ref.name} is not defined`, [...at, "name"]);
  const port = svc.ports.find((p) => p.port === ref.port);
  if (!port) {
    return invalid(Reason.BackendNotFound, "MG_BACKEND_NOT_FOUND", `Service ${ns}/${ref.name} has no port ${ref.port} (ports: ${svc.ports.map((p) => p.port).join(", ")})`, [...at, "port"]);
  }
  if (port.endpoints.length === 0 && svc.workloads.length === 0) {
    sink.warning("MG_NO_ENDPOINTS", route, at, `Service ${ns}/${ref.name} has no endpoints: add an EndpointSlice or a Workload that backs it`);
  }
  return { valid: true, service: svc, port, weight, filters: ref.filters ?? [] };
}

