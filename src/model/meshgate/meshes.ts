// Meshes (trust domain + namespaces) and the Workloads placed in them. A namespace
// belongs to at most one mesh; a workload's SPIFFE ID follows Istio's convention
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.

import { dirname, isAbsolute, resolve } from "node:path";
import { parseDurationMs } from "../api-rules.js";
import { secretValue } from "../gateway-api/gateways.js";
import type { FieldPath } from "../../config/source-position.js";
import type { MeshCaModel, MeshModel, ServiceModel, ServicePortModel, WorkloadModel, WorkloadUpstreamModel } from "../model.js";
import type { ProblemSink } from "../problem-sink.js";
import type { ResourceIndex } from "../resource-index.js";
import type { MeshSpec, WorkloadSpec } from "./schemas.js";

export function buildMeshes(index: ResourceIndex, sink: ProblemSink): MeshModel[] {
  const owner = new Map<string, string>();
  // A root anchors one trust domain (its URI SAN names it, and intermediates are name
  // constrained to it), so meshes that share a root share the trust domain too.
  const rootTrustDomain = new Map<string, { mesh: string; trustDomain: string }>();
  const meshes: MeshModel[] = [];
  for (const m of index.list("Mesh")) {
    const spec = m.spec as MeshSpec;
    spec.namespaces.forEach((ns, i) => {
      const prior = owner.get(ns);
      if (prior) sink.error("MG_MESH_CONFLICT", m, ["spec", "namespaces", i], `namespace "${ns}" already belongs to Mesh ${prior}; a namespace can be in one mesh only`);
      else owner.set(ns, m.name);
    });
    const rootName = spec.ca?.mode === "Provided" ? undefined : (spec.ca?.rootName ?? "default");
    if (rootName !== undefined) {
      const prior = rootTrustDomain.get(rootName);
      if (!prior) rootTrustDomain.set(rootName, { mesh: m.name, trustDomain: spec.trustDomain });
      else if (prior.trustDomain !== spec.trustDomain) {
        sink.error("MG_MESH_CONFLICT", m, ["spec", "trustDomain"], `Mesh ${prior.mesh} uses root "${rootName}" with trust domain ${prior.trustDomain}; meshes sharing a root share its trust domain (use ${prior.trustDomain}, or another ca.rootName)`);
      }
    }
    const ca: MeshCaModel =
      spec.ca?.mode === "Provided"
        ? { mode: "Provided", path: isAbsolute(spec.ca.path ?? "") ? spec.ca.path! : resolve(dirname(m.source.file), spec.ca.path ?? "") }
        : { mode: "Managed", rootName: rootName ?? "default", intermediateTtlMs: spec.ca?.intermediateTTL ? parseDurationMs(spec.ca.intermediateTTL) : undefined };
    const trustedRootsPem: string[] = [];
    (spec.trustedRoots ?? []).forEach((t, i) => {
      const ns = t.configMapRef.namespace ?? "default";
      const key = t.configMapRef.key ?? "ca.crt";
      const cm = index.get("ConfigMap", ns, t.configMapRef.name);
      const pem: unknown = cm ? ((cm.object as Record<string, Record<string, unknown> | undefined>).data?.[key] ?? secretValue(cm.object as Record<string, unknown>, key)) : undefined;
      if (typeof pem === "string" && pem.includes("-----BEGIN CERTIFICATE-----")) trustedRootsPem.push(pem);
      else sink.error("MG_TARGET_NOT_FOUND", m, ["spec", "trustedRoots", i, "configMapRef", "name"], cm ? `ConfigMap ${ns}/${t.configMapRef.name} has no PEM certificate under ${key}` : `ConfigMap ${ns}/${t.configMapRef.name} is not defined`);
    });
    meshes.push({
      resource: m,
      name: m.name,
      trustDomain: spec.trustDomain,
      namespaces: spec.namespaces.filter((ns) => owner.get(ns) === m.name),
      ca,
      workloadCertTtlMs: spec.workloadCertTTL ? parseDurationMs(spec.workloadCertTTL) : undefined,
      trustedRootsPem,
    });
  }
  return meshes;
}

export function meshOfNamespace(meshes: readonly MeshModel[], namespace: string): MeshModel | undefined {
  return meshes.find((m) => m.namespaces.includes(namespace));
}

/** Default sidecar ports, as offsets from the application's port. */
export const SIDECAR_INBOUND_OFFSET = 10000;
export const SIDECAR_OUTBOUND_OFFSET = 20000;

export function buildWorkloads(index: ResourceIndex, meshes: readonly MeshModel[], services: ReadonlyMap<string, ServiceModel>, sink: ProblemSink): WorkloadModel[] {
  // address:port -> who binds it, so two workloads (or a workload and a sidecar) cannot collide.
  const bound = new Map<string, string>();
  return index.list("Workload").map((w) => {
    const spec = w.spec as WorkloadSpec;
    const serviceAccount = spec.serviceAccount ?? "default";
    const address = spec.address ?? "127.0.0.1";
    const inboundPort = spec.sidecar?.inboundPort ?? spec.port + SIDECAR_INBOUND_OFFSET;
    const outboundPort = spec.sidecar?.outboundPort ?? spec.port + SIDECAR_OUTBOUND_OFFSET;
    // Every port the application and its sidecar bind; `field` names the default's setting
    // when the port is defaulted (the error then points at spec.port and says what to set).
    const ports: { what: string; port: number; path: FieldPath; field?: string; upstream?: number }[] = [
      { what: "application", port: spec.port, path: ["spec", "port"] },
      spec.sidecar?.inboundPort !== undefined ? { what: "sidecar inbound", port: inboundPort, path: ["spec", "sidecar", "inboundPort"] } : { what: "sidecar inbound", port: inboundPort, path: ["spec", "port"], field: "inboundPort" },
      spec.sidecar?.outboundPort !== undefined ? { what: "sidecar outbound", port: outboundPort, path: ["spec", "sidecar", "outboundPort"] } : { what: "sidecar outbound", port: outboundPort, path: ["spec", "port"], field: "outboundPort" },
    ];
    const upstreamSpecs = spec.sidecar?.upstreams ?? [];
    upstreamSpecs.forEach((u, i) => ports.push({ what: `sidecar upstream (${u.service}:${u.port})`, port: u.localPort, path: ["spec", "sidecar", "upstreams", i, "localPort"], upstream: i }));
    const unbound = new Set<number>(); // upstream entries whose port is taken
    for (const { what, port, path, field, upstream } of ports) {
      if (port > 65535) {
        sink.error("MG_INVALID_VALUE", w, path, `the ${what} port defaults to ${port}, above 65535; set spec.sidecar.${field}`);
        continue;
      }
      const key = `${address}:${port}`;
      const owner = bound.get(key);
      if (owner) {
        sink.error("MG_PORT_CONFLICT", w, path, `the ${what} port ${key} is already used by ${owner}`);
        if (upstream !== undefined) unbound.add(upstream);
      } else bound.set(key, `the ${what} port of Workload ${w.namespace}/${w.name}`);
    }
    // Like spec.services, an entry naming an unknown Service (or port) is reported and left
    // out, and so is one whose port is taken (the sidecar could not bind it, and a listener
    // that cannot be bound makes the proxy refuse its whole update): the rest is served.
    const upstreams: WorkloadUpstreamModel[] = [];
    upstreamSpecs.forEach((u, i) => {
      const resolved = resolveUpstream(w.namespace, u, services);
      if ("problem" in resolved) sink.error("MG_TARGET_NOT_FOUND", w, ["spec", "sidecar", "upstreams", i, resolved.field], resolved.problem);
      else if (!unbound.has(i)) upstreams.push({ ...resolved, localPort: u.localPort });
    });
    const mesh = meshOfNamespace(meshes, w.namespace);
    if (!mesh) {
      sink.error("MG_NO_MESH", w, ["metadata", "namespace"], `namespace "${w.namespace}" is in no Mesh; list it in a Mesh's spec.namespaces so the workload gets an identity`);
    }
    return {
      resource: w,
      namespace: w.namespace,
      name: w.name,
      serviceAccount,
      address,
      port: spec.port,
      protocol: spec.protocol ?? "HTTP",
      inboundPort,
      outboundPort,
      upstreams,
      labels: spec.labels ?? {},
      mesh,
      spiffeId: mesh ? `spiffe://${mesh.trustDomain}/ns/${w.namespace}/sa/${serviceAccount}` : undefined,
      services: (spec.services ?? []).map((s) => services.get(`${w.namespace}/${s}`)).filter((s): s is ServiceModel => s !== undefined),
      command: spec.command,
      env: spec.env ?? {},
      workingDir: spec.workingDir,
    };
  });
}

/** The Service port an upstream names, or why there is none. */
function resolveUpstream(
  namespace: string,
  u: { service: string; port: number },
  services: ReadonlyMap<string, ServiceModel>,
): { service: ServiceModel; port: ServicePortModel } | { field: "service" | "port"; problem: string } {
  const key = u.service.includes("/") ? u.service : `${namespace}/${u.service}`;
  const service = services.get(key);
  if (!service) return { field: "service", problem: `Service ${key} is not defined` };
  const port = service.ports.find((p) => p.port === u.port);
  if (!port) return { field: "port", problem: `Service ${key} has no port ${u.port} (its ports: ${service.ports.map((p) => p.port).join(", ") || "none"})` };
  return { service, port };
}
