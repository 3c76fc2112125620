// Every problem code meshgate reports, with the explanation that docs/errors.md carries.
// Codes are stable: scripts may depend on them.

export const PROBLEM_CODES = {
  MG_YAML_SYNTAX: "The file is not valid YAML (or repeats a key in one mapping).",
  MG_NOT_A_RESOURCE: "A YAML document is not a Kubernetes-style resource: it must be a mapping with `apiVersion`, `kind` and `metadata.name`.",
  MG_UNKNOWN_KIND: "The `apiVersion`/`kind` pair is not one meshgate reads; the message lists the supported ones.",
  MG_SCHEMA: "A field does not match the resource's schema (the upstream CRD schema for standard kinds, docs/resources.md for meshgate's own).",
  MG_INVALID_VALUE: "A field passes the schema but breaks a rule of the API (for example a PathPrefix value that does not start with `/`).",
  MG_DUPLICATE_RESOURCE: "Two documents define the same kind, namespace and name.",
  MG_EMPTY_CONFIG: "The configuration paths hold no resources.",
  MG_GATEWAYCLASS_NOT_FOUND: "A Gateway names a GatewayClass that is not defined.",
  MG_OTHER_CONTROLLER: "A GatewayClass belongs to another controller; its Gateways are left alone.",
  MG_LISTENER_CONFLICT: "Two listeners of a Gateway share a port with different protocols, or the same port, protocol and hostname.",
  MG_LISTENER_UNSUPPORTED: "A listener uses a protocol or route kind meshgate does not serve.",
  MG_INVALID_CERTIFICATE_REF: "An HTTPS listener's certificateRef does not name a usable `kubernetes.io/tls` Secret.",
  MG_PARENT_NOT_FOUND: "A route's parentRef names a Gateway or Service that is not defined.",
  MG_ROUTE_NOT_ACCEPTED: "A route could not attach to a parent (no matching listener, hostname or section, or not allowed by the listener).",
  MG_BACKEND_NOT_FOUND: "A backendRef names a Service (or Service port) that is not defined.",
  MG_REF_NOT_PERMITTED: "A cross-namespace reference has no ReferenceGrant allowing it.",
  MG_INVALID_KIND: "A reference names a kind that cannot be used there.",
  MG_TARGET_NOT_FOUND: "A policy's targetRef or selector-free reference names a resource that is not defined.",
  MG_MESH_CONFLICT: "A namespace is claimed by more than one Mesh, or meshes that share a root CA name different trust domains.",
  MG_UNSUPPORTED: "A valid setting that meshgate does not implement; it is rejected rather than silently ignored.",
  MG_ADDRESS_IN_USE: "Two Gateways would bind the same address and port (0.0.0.0 overlaps every address); the newer one is not Programmed.",
  MG_PORT_CONFLICT: "Two Workloads (or a Workload and another's sidecar) would listen on the same address and port.",
  MG_NO_MESH: "A Workload is in a namespace that no Mesh lists, so it has no trust domain and cannot get an identity.",
  MG_NO_ENDPOINTS: "A Service used as a backend has no ready endpoints (no EndpointSlice and no Workload backs it).",
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;
