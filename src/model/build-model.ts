// Source documents -> the resolved model, with every problem and each resource's status.
// The model is built from every document that decoded cleanly even when others did not,
// so one run reports all problems; `usable` says whether it may replace a running config.

import { hasBlocking, sortProblems, type Problem } from "../config/problem.js";
import type { SourceDocument } from "../config/yaml-documents.js";
import { CONTROLLER_NAME, condition, Reason } from "./conditions.js";
import { decodeResources } from "./decode-resources.js";
import { buildGatewayClasses, buildGateways } from "./gateway-api/gateways.js";
import { buildRoutes } from "./gateway-api/routes.js";
import { buildMeshes, buildWorkloads } from "./meshgate/meshes.js";
import type { GatewayModel, Model, PolicyModel, ResourceStatus, RouteModel } from "./model.js";
import { buildPolicies } from "./policies/build-policies.js";
import { ProblemSink } from "./problem-sink.js";
import { ResourceIndex } from "./resource-index.js";
import { buildServices } from "./services.js";

export interface ModelResult {
  readonly model: Model;
  /** Sorted by file, line and column. */
  readonly problems: Problem[];
  /** False when a blocking problem means this configuration must not replace a running one. */
  readonly usable: boolean;
}

export function buildModel(documents: readonly SourceDocument[], sourceProblems: readonly Problem[] = []): ModelResult {
  const decoded = decodeResources(documents);
  const index = new ResourceIndex(decoded.resources);
  const sink = new ProblemSink();

  const classes = buildGatewayClasses(index, sink);
  const gateways = buildGateways(index, classes, sink);
  const services = buildServices(index, sink);
  const routes = buildRoutes(index, gateways, services, sink);
  const meshes = buildMeshes(index, sink);
  const workloads = buildWorkloads(index, meshes, services, sink);
  const policies = buildPolicies(index, sink);

  const statuses: ResourceStatus[] = [
    ...classes.ours.map((gc) => ({ kind: gc.kind, namespace: "", name: gc.name, status: { conditions: classes.statuses.get(gc) ?? [] } })),
    ...gateways.map(gatewayStatus),
    ...routes.map(routeStatus),
    ...policies.map(policyStatus),
    ...meshes.map((m) => ({ kind: "Mesh", namespace: "", name: m.name, status: { trustDomain: m.trustDomain, namespaces: m.namespaces, conditions: [condition("Accepted", "True", Reason.Accepted, "Mesh accepted")] } })),
    ...workloads.map((w) => ({
      kind: "Workload",
      namespace: w.namespace,
      name: w.name,
      status: {
        ...(w.spiffeId ? { spiffeId: w.spiffeId } : {}),
        conditions: [w.mesh ? condition("Accepted", "True", Reason.Accepted, `In Mesh ${w.mesh.name}`) : condition("Accepted", "False", Reason.Invalid, "Namespace is in no Mesh")],
      },
    })),
  ];

  const problems = [...sourceProblems, ...decoded.problems, ...sink.problems];
  if (documents.length === 0 && sourceProblems.length === 0) {
    problems.push({ code: "MG_EMPTY_CONFIG", severity: "warning", blocking: false, message: "no resources found in the configuration paths" });
  }
  const model: Model = { index, gatewayClasses: classes.ours, gateways, routes, services: [...services.values()], meshes, workloads, policies, statuses };
  return { model, problems: sortProblems(problems), usable: !hasBlocking(problems) };
}

function gatewayStatus(g: GatewayModel): ResourceStatus {
  return {
    kind: "Gateway",
    namespace: g.resource.namespace,
    name: g.resource.name,
    status: {
      conditions: g.conditions,
      listeners: g.listeners.map((l) => ({ name: l.name, supportedKinds: l.supportedKinds, attachedRoutes: l.attachedRoutes, conditions: l.conditions })),
    },
  };
}

function routeStatus(r: RouteModel): ResourceStatus {
  return {
    kind: r.kind,
    namespace: r.resource.namespace,
    name: r.resource.name,
    status: {
      parents: r.parents.map((p) => ({ parentRef: p.ref, controllerName: CONTROLLER_NAME, conditions: p.conditions })),
    },
  };
}

function policyStatus(p: PolicyModel): ResourceStatus {
  return { kind: p.resource.kind, namespace: p.resource.namespace, name: p.resource.name, status: { conditions: p.conditions } };
}
