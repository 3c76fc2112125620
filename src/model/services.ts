// The service registry without a cluster: Services, their EndpointSlices, and the
// Workloads that back them.

import type { Endpoint, ServiceModel, ServicePortModel } from "./model.js";
import type { ProblemSink } from "./problem-sink.js";
import type { ResourceIndex } from "./resource-index.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function buildServices(index: ResourceIndex, sink: ProblemSink): Map<string, ServiceModel> {
  const slicesByService = new Map<string, Obj[]>();
  for (const slice of index.list("EndpointSlice")) {
    const svc = slice.labels["kubernetes.io/service-name"]!;
    const key = `${slice.namespace}/${svc}`;
    if (!index.get("Service", slice.namespace, svc)) {
      sink.warning("MG_BACKEND_NOT_FOUND", slice, ["metadata", "labels", "kubernetes.io/service-name"], `Service ${slice.namespace}/${svc} is not defined; these endpoints are unused`);
    }
    let list = slicesByService.get(key);
    if (!list) slicesByService.set(key, (list = []));
    list.push(slice.object as Obj);
  }

  const workloadsByService = new Map<string, string[]>();
  for (const w of index.list("Workload")) {
    (w.spec.services ?? []).forEach((name: string, i: number) => {
      if (!index.get("Service", w.namespace, name)) {
        sink.error("MG_TARGET_NOT_FOUND", w, ["spec", "services", i], `Service ${w.namespace}/${name} is not defined`);
        return;
      }
      const key = `${w.namespace}/${name}`;
      let list = workloadsByService.get(key);
      if (!list) workloadsByService.set(key, (list = []));
      list.push(`${w.namespace}/${w.name}`);
    });
  }

  const services = new Map<string, ServiceModel>();
  for (const svc of index.list("Service")) {
    const key = `${svc.namespace}/${svc.name}`;
    const slices = slicesByService.get(key) ?? [];
    const ports: ServicePortModel[] = ((svc.spec.ports ?? []) as Obj[]).map((p) => {
      const name: string = p.name ?? "";
      const endpoints: Endpoint[] = [];
      for (const slice of slices) {
        const slicePort = ((slice.ports ?? []) as Obj[]).find((sp) => (sp.name ?? "") === name);
        const port = slicePort?.port ?? (typeof p.targetPort === "number" ? p.targetPort : p.port);
        for (const e of (slice.endpoints ?? []) as Obj[]) {
          for (const address of e.addresses ?? []) {
            endpoints.push({ address, port, ready: e.conditions?.ready !== false, ...(e.zone ? { zone: e.zone } : {}) });
          }
        }
      }
      return { name, port: p.port, targetPort: p.targetPort, protocol: p.protocol ?? "TCP", appProtocol: p.appProtocol, endpoints };
    });
    services.set(key, { resource: svc, namespace: svc.namespace, name: svc.name, ports, workloads: workloadsByService.get(key) ?? [] });
  }
  return services;
}
