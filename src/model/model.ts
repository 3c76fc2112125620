// The validated, resolved configuration: what the translator compiles. Every reference
// is resolved here (or marked invalid with the reason), so later stages never look up
// resources by name and never need the raw documents.

import type { Problem } from "../config/problem.js";
import type { Condition } from "./conditions.js";
import type { AnyResource, Resource } from "./resource.js";
import type { ResourceIndex } from "./resource-index.js";

export type ListenerProtocol = "HTTP" | "HTTPS";

export interface RouteKindRef {
  readonly group: string;
  readonly kind: "HTTPRoute" | "GRPCRoute";
}

export interface CertificateRef {
  readonly namespace: string;
  readonly name: string;
  /** PEM, from the Secret's tls.crt / tls.key. */
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ClientValidationModel {
  /** The CA bundle: every referenced ConfigMap's `ca.crt`, in reference order. */
  readonly caPem: string;
  /** `AllowValidOnly`: a verified certificate is required; `AllowInsecureFallback`: optional. */
  readonly mode: "AllowValidOnly" | "AllowInsecureFallback";
}

export interface ListenerModel {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly hostname: string | undefined;
  /** Usable: accepted, not conflicted, references resolved. */
  readonly ready: boolean;
  readonly certificates: CertificateRef[];
  /**
   * Client certificate validation (Gateway `spec.tls.frontend`, the per-port entry for this
   * listener's port or the default): HTTPS listeners only, set only when every CA reference
   * resolved (otherwise the listener is not ready).
   */
  readonly clientValidation?: ClientValidationModel;
  readonly supportedKinds: RouteKindRef[];
  readonly conditions: Condition[];
  attachedRoutes: number;
}

export interface GatewayModel {
  readonly resource: AnyResource;
  readonly className: string;
  readonly addresses: string[];
  readonly listeners: ListenerModel[];
  readonly conditions: Condition[];
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly ready: boolean;
  readonly zone?: string;
}

export interface ServicePortModel {
  readonly name: string;
  readonly port: number;
  readonly targetPort: number | string | undefined;
  readonly protocol: string;
  readonly appProtocol: string | undefined;
  readonly endpoints: Endpoint[];
}

export interface ServiceModel {
  readonly resource: AnyResource;
  readonly namespace: string;
  readonly name: string;
  readonly ports: ServicePortModel[];
  /** `namespace/name` of Workloads that back this Service (their sidecars are endpoints). */
  readonly workloads: string[];
}

/** A resolved backendRef, or the reason it cannot be used (its share of traffic gets 500). */
export type BackendModel =
  | {
      readonly valid: true;
      readonly service: ServiceModel;
      readonly port: ServicePortModel;
      readonly weight: number;
      readonly filters: unknown[];
    }
  | { readonly valid: false; readonly weight: number; readonly reason: string; readonly message: string };

export interface RouteRuleModel {
  readonly index: number;
  readonly name: string | undefined;
  /** The rule as written (matches, filters, timeouts, retry, ...). */
  readonly spec: Record<string, unknown>;
  readonly backends: BackendModel[];
  /** RequestMirror filters' targets, in filter order. */
  readonly mirrors: BackendModel[];
}

export type RouteParentModel =
  | {
      readonly kind: "Gateway";
      readonly gateway: GatewayModel;
      /** Listeners the route attached to, each with the hostnames it serves there. */
      readonly listeners: { listener: ListenerModel; any: boolean; hostnames: string[] }[];
      readonly ref: ParentRefKey;
      readonly conditions: Condition[];
    }
  | {
      readonly kind: "Service";
      readonly service: ServiceModel | undefined;
      readonly port: number | undefined;
      readonly ref: ParentRefKey;
      readonly conditions: Condition[];
    }
  /** A parent that does not exist or is of a kind routes cannot attach to. */
  | { readonly kind: "Unresolved"; readonly ref: ParentRefKey; readonly conditions: Condition[] };

export interface ParentRefKey {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

export interface RouteModel {
  readonly resource: AnyResource;
  readonly kind: "HTTPRoute" | "GRPCRoute";
  readonly hostnames: string[];
  readonly parents: RouteParentModel[];
  readonly rules: RouteRuleModel[];
}

export interface PolicyModel {
  readonly resource: AnyResource;
  /** Resources the policy applies to (resolved targetRefs); empty when it uses a selector. */
  readonly targets: AnyResource[];
  readonly conditions: Condition[];
}

export type MeshCaModel =
  /** meshgate keeps the root (shared by meshes with the same rootName) and this mesh's intermediate. */
  | { readonly mode: "Managed"; readonly rootName: string; readonly intermediateTtlMs: number | undefined }
  /** An Istio cacerts folder the operator provides (absolute, or resolved against the declaring file). */
  | { readonly mode: "Provided"; readonly path: string };

export interface MeshModel {
  readonly resource: Resource;
  readonly name: string;
  readonly trustDomain: string;
  readonly namespaces: string[];
  readonly ca: MeshCaModel;
  /** SVID lifetime; undefined = the default (24 h). */
  readonly workloadCertTtlMs: number | undefined;
  /** Extra roots this mesh's proxies trust (spec.trustedRoots ConfigMaps), PEM. */
  readonly trustedRootsPem: string[];
}

export interface WorkloadModel {
  readonly resource: AnyResource;
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  /** Where the application listens (plaintext, local). */
  readonly address: string;
  readonly port: number;
  readonly protocol: "HTTP" | "HTTP2" | "GRPC";
  /** Where its sidecar accepts mesh traffic (the endpoint other proxies reach it at). */
  readonly inboundPort: number;
  /** The sidecar's HTTP proxy port for the application's outbound calls. */
  readonly outboundPort: number;
  /** Local ports of the sidecar, each leading to one Service port (spec.sidecar.upstreams, resolved). */
  readonly upstreams: readonly WorkloadUpstreamModel[];
  readonly labels: Readonly<Record<string, string>>;
  readonly mesh: MeshModel | undefined;
  /** SPIFFE ID the workload's sidecar is issued; undefined without a Mesh. */
  readonly spiffeId: string | undefined;
  readonly services: ServiceModel[];
  /** The application's command line (`meshgate up` runs it); undefined: started elsewhere. */
  readonly command: readonly string[] | undefined;
  /** Extra environment for the command. */
  readonly env: Readonly<Record<string, string>>;
  /** As written; relative to the directory of the file that declares the Workload. */
  readonly workingDir: string | undefined;
}

/**
 * A sidecar port that leads to one Service port: the application calls
 * `http://<address>:<localPort>/...` with any Host, and the sidecar routes it as a call to
 * that Service port (GAMMA routes, mTLS) on its outbound port.
 */
export interface WorkloadUpstreamModel {
  readonly service: ServiceModel;
  readonly port: ServicePortModel;
  readonly localPort: number;
}

/** Kubernetes-shaped status of one resource, as `meshgate validate` prints it. */
export interface ResourceStatus {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly status: Record<string, unknown>;
}

export interface Model {
  readonly index: ResourceIndex;
  readonly gatewayClasses: AnyResource[];
  readonly gateways: GatewayModel[];
  readonly routes: RouteModel[];
  readonly services: ServiceModel[];
  readonly meshes: MeshModel[];
  readonly workloads: WorkloadModel[];
  readonly policies: PolicyModel[];
  readonly statuses: ResourceStatus[];
}

export interface BuildResult {
  /** Undefined when a blocking problem makes the configuration unusable. */
  readonly model: Model | undefined;
  readonly problems: Problem[];
}
