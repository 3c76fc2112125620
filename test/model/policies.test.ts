import { test } from "node:test";
import assert from "node:assert/strict";
import { GATEWAY_CLASS, modelOf, problemLines, statusOf } from "../helpers/model.js";

const base = `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec: { gatewayClassName: meshgate, listeners: [{ name: http, port: 80, protocol: HTTP }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: infra }
spec: { ports: [{ name: http, port: 80 }] }
`;

test("policy targetRefs resolve in the policy's namespace; missing targets are TargetNotFound", () => {
  const r = modelOf(`${base}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: at-edge, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: infra }
spec:
  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: missing }
  jwtRules: [{ issuer: https://issuer.test, jwksUri: https://issuer.test/jwks }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: rl, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: nope }]
  rateLimit: { type: Local, local: { rules: [{ limit: { requests: 5, unit: Second } }] } }
`);
  assert.equal(statusOf(r, "AuthorizationPolicy", "infra", "at-edge").conditions[0].reason, "Accepted");
  assert.equal(r.model.policies.find((p) => p.resource.name === "at-edge")!.targets[0]!.name, "edge");
  assert.equal(statusOf(r, "RequestAuthentication", "infra", "jwt").conditions[0].reason, "TargetNotFound");
  assert.equal(statusOf(r, "BackendTrafficPolicy", "infra", "rl").conditions[0].reason, "TargetNotFound");
  assert.deepEqual(r.problems.map((p) => `${p.code} ${p.resource}`), ["MG_TARGET_NOT_FOUND RequestAuthentication infra/jwt", "MG_TARGET_NOT_FOUND BackendTrafficPolicy infra/rl"]);
});

test("a policy cannot target a kind it does not apply to", () => {
  const r = modelOf(`${base}---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: tls, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  validation: { wellKnownCACertificates: System, hostname: web.test }
`);
  assert.deepEqual(problemLines(r, "error"), ["MG_INVALID_KIND @21:52 spec.targetRefs[0].kind: BackendTLSPolicy cannot target gateway.networking.k8s.io/Gateway; supported targets: Service"]);
});

test("AuthorizationPolicy CUSTOM is refused as blocking: ignoring it would fail open", () => {
  const r = modelOf(`${base}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: infra }
spec:
  action: CUSTOM
  provider: { name: opa }
  rules: [{}]
`);
  assert.equal(r.usable, false);
  assert.equal(r.problems.find((p) => p.code === "MG_UNSUPPORTED")?.blocking, true);
});

test("a PeerAuthentication with a selector in the root namespace is reported (a warning): Istio applies it to nothing", () => {
  const r = modelOf(`${base}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: web-strict, namespace: istio-system }
spec: { selector: { matchLabels: { app: web } }, mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: web-strict, namespace: infra }
spec: { selector: { matchLabels: { app: web } }, mtls: { mode: STRICT } }
`);
  assert.equal(r.usable, true);
  const warnings = problemLines(r, "warning").filter((l) => l.startsWith("MG_INVALID_VALUE"));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /spec\.selector: a PeerAuthentication with a selector in the root namespace \(istio-system\) applies to no workload/);
});

test("BackendTLSPolicy needs a ConfigMap with a PEM ca.crt", () => {
  const policy = (cm: string) => `${base}---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: tls, namespace: infra }
spec:
  targetRefs: [{ group: "", kind: Service, name: web }]
  validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: ${cm} }], hostname: web.test }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: good, namespace: infra }
data: { ca.crt: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: empty, namespace: infra }
data: { other: x }
`;
  const conds = (yaml: string) => Object.fromEntries(statusOf(modelOf(yaml), "BackendTLSPolicy", "infra", "tls").conditions.map((c: { type: string; reason: string }) => [c.type, c.reason]));
  assert.deepEqual(conds(policy("good")), { Accepted: "Accepted", ResolvedRefs: "ResolvedRefs" });
  assert.deepEqual(conds(policy("empty")), { Accepted: "NoValidCACertificate", ResolvedRefs: "InvalidCACertificateRef" });
  assert.deepEqual(conds(policy("absent")), { Accepted: "NoValidCACertificate", ResolvedRefs: "InvalidCACertificateRef" });
});

test("meshes: a namespace in two meshes conflicts; a workload outside every mesh has no identity", () => {
  const r = modelOf(`apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: a }
spec: { trustDomain: a.local, namespaces: [shared, only-a] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: b }
spec: { trustDomain: b.local, namespaces: [shared], ca: { rootName: b } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: only-a }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: web, namespace: only-a }
spec: { serviceAccount: web, port: 8080, services: [web, ghost] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: stray, namespace: elsewhere }
spec: { port: 8081 }
`);
  assert.deepEqual(problemLines(r, "error"), [
    'MG_MESH_CONFLICT @9:44 spec.namespaces[0]: namespace "shared" already belongs to Mesh a; a namespace can be in one mesh only',
    "MG_TARGET_NOT_FOUND @19:58 spec.services[1]: Service only-a/ghost is not defined",
    'MG_NO_MESH @23:26 metadata.namespace: namespace "elsewhere" is in no Mesh; list it in a Mesh\'s spec.namespaces so the workload gets an identity',
  ]);
  const web = r.model.workloads.find((w) => w.name === "web")!;
  assert.equal(web.spiffeId, "spiffe://a.local/ns/only-a/sa/web");
  assert.deepEqual(web.services.map((s) => s.name), ["web"]);
  assert.deepEqual(r.model.services[0]!.workloads, ["only-a/web"]);
  assert.equal(r.model.workloads.find((w) => w.name === "stray")!.spiffeId, undefined);
});

test("meshes sharing a root must share its trust domain", () => {
  const mesh = (name: string, td: string, root: string) => `---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: ${name} }
spec: { trustDomain: ${td}, namespaces: [${name}], ca: { rootName: ${root} } }
`;
  const r = modelOf(mesh("a", "a.local", "shared") + mesh("b", "b.local", "shared") + mesh("c", "c.local", "other"));
  assert.deepEqual(r.problems.map((p) => `${p.code} ${p.resource}`), ["MG_MESH_CONFLICT Mesh b"]);
  assert.match(r.problems[0]!.message, /Mesh a uses root "shared" with trust domain a\.local/);
});

test("Istio settings meshgate cannot enforce are refused as blocking: ignoring them would change who is let in", () => {
  const r = modelOf(`${base}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: sa, namespace: infra }
spec:
  rules: [{ from: [{ source: { serviceAccounts: [infra/web] } }, { source: { notServiceAccounts: [infra/x] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: elsewhere, namespace: infra }
spec:
  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: edge, namespace: other }
  action: DENY
  rules: [{}]
`);
  assert.equal(r.usable, false);
  assert.deepEqual(
    r.problems.filter((p) => p.code === "MG_UNSUPPORTED").map((p) => `${p.resource} ${p.path!.join(".")} ${p.blocking}`),
    ["AuthorizationPolicy infra/sa spec.rules.0.from.0.source.serviceAccounts true", "AuthorizationPolicy infra/sa spec.rules.0.from.1.source.notServiceAccounts true", "AuthorizationPolicy infra/elsewhere spec.targetRef.namespace true"],
  );
  assert.equal(statusOf(r, "AuthorizationPolicy", "infra", "sa").conditions[0].status, "False");
});

test("BackendTrafficPolicy fields outside what meshgate implements are MG_UNSUPPORTED (not blocking) and the policy is not Accepted", () => {
  const r = modelOf(`${base}---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: lb, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  loadBalancer: { type: ConsistentHash, consistentHash: { type: SourceIP } }
`);
  assert.equal(r.usable, true);
  assert.deepEqual(problemLines(r, "error").map((l) => l.replace(/ @\d+:\d+/, "")), [
    "MG_UNSUPPORTED spec.loadBalancer.type: ConsistentHash load balancing (session affinity) is not supported; use RoundRobin, LeastRequest or Random",
    "MG_UNSUPPORTED spec.loadBalancer.consistentHash: consistentHash is not supported by meshgate; remove it (the policy is not applied while it is set)",
  ]);
  assert.deepEqual(statusOf(r, "BackendTrafficPolicy", "infra", "lb").conditions[0], {
    type: "Accepted",
    status: "False",
    reason: "Invalid",
    message: "consistentHash is not supported by meshgate; remove it (the policy is not applied while it is set)",
  });
});
