import { test } from "node:test";
import assert from "node:assert/strict";
import { GATEWAY_CLASS, modelOf, problemLines, statusOf } from "../../helpers/model.js";

const gw = (listeners: string, extra = "") => `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
${extra}  listeners:
${listeners}`;

const conds = (cs: { type: string; status: string; reason: string }[]) => Object.fromEntries(cs.map((c) => [c.type, `${c.status}/${c.reason}`]));

test("a Gateway of our class is accepted; Programmed waits for a proxy", () => {
  const r = modelOf(gw("    - { name: http, port: 80, protocol: HTTP }\n"));
  assert.deepEqual(problemLines(r), []);
  const s = statusOf(r, "Gateway", "infra", "edge");
  assert.deepEqual(conds(s.conditions), { Accepted: "True/Accepted", Programmed: "Unknown/Pending" });
  assert.deepEqual(conds(s.listeners[0].conditions), { Accepted: "True/Accepted", ResolvedRefs: "True/ResolvedRefs", Conflicted: "False/NoConflicts", Programmed: "Unknown/Pending" });
  assert.deepEqual(s.listeners[0].supportedKinds.map((k: { kind: string }) => k.kind), ["HTTPRoute", "GRPCRoute"]);
});

test("Gateways of another controller are ignored with a note; a missing class is an error", () => {
  const other = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: other }
spec: { controllerName: example.com/other }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: theirs }
spec: { gatewayClassName: other, listeners: [{ name: a, port: 80, protocol: HTTP }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: orphan }
spec: { gatewayClassName: nope, listeners: [{ name: a, port: 80, protocol: HTTP }] }
`;
  const r = modelOf(other);
  assert.equal(r.model.gateways.length, 0);
  assert.deepEqual(r.problems.map((p) => `${p.severity} ${p.code}`), ["info MG_OTHER_CONTROLLER", "error MG_GATEWAYCLASS_NOT_FOUND"]);
  assert.equal(r.usable, true, "reference problems are reported, not blocking");
});

test("listeners on one port with different protocols conflict (ProtocolConflict)", () => {
  const r = modelOf(gw(`    - { name: a, port: 80, protocol: HTTP }
    - { name: b, port: 80, protocol: HTTPS, tls: { certificateRefs: [{ name: cert }] } }
`) + `---
apiVersion: v1
kind: Secret
metadata: { name: cert, namespace: infra }
type: kubernetes.io/tls
stringData: { tls.crt: "-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----", tls.key: "-----BEGIN PRIVATE KEY-----\\nx\\n-----END PRIVATE KEY-----" }
`);
  const s = statusOf(r, "Gateway", "infra", "edge");
  assert.equal(conds(s.listeners[0].conditions).Conflicted, "True/ProtocolConflict");
  assert.equal(conds(s.listeners[1].conditions).Conflicted, "True/ProtocolConflict");
  assert.equal(conds(s.conditions).Accepted, "False/ListenersNotValid");
  assert.deepEqual(r.problems.map((p) => p.code), ["MG_LISTENER_CONFLICT"]);
});

test("same port, protocol and hostname conflict (HostnameConflict); different hostnames do not", () => {
  const r = modelOf(gw(`    - { name: a, port: 80, protocol: HTTP, hostname: a.example.com }
    - { name: b, port: 80, protocol: HTTP, hostname: a.example.com }
    - { name: c, port: 80, protocol: HTTP, hostname: c.example.com }
`));
  const s = statusOf(r, "Gateway", "infra", "edge");
  assert.deepEqual(s.listeners.map((l: { conditions: never }) => conds(l.conditions).Conflicted), ["True/HostnameConflict", "True/HostnameConflict", "False/NoConflicts"]);
  assert.equal(conds(s.conditions).Accepted, "True/ListenersNotValid");
});

test("unsupported protocols and route kinds are reported on the listener", () => {
  const r = modelOf(gw(`    - { name: tcp, port: 9000, protocol: TCP }
    - { name: http, port: 80, protocol: HTTP, allowedRoutes: { kinds: [{ kind: TCPRoute }, { kind: HTTPRoute }] } }
`));
  const s = statusOf(r, "Gateway", "infra", "edge");
  assert.equal(conds(s.listeners[0].conditions).Accepted, "False/UnsupportedProtocol");
  assert.equal(conds(s.listeners[1].conditions).ResolvedRefs, "False/InvalidRouteKinds");
  assert.deepEqual(s.listeners[1].supportedKinds.map((k: { kind: string }) => k.kind), ["HTTPRoute"]);
});

test("HTTPS certificateRefs: missing Secret, wrong type, cross-namespace without and with a ReferenceGrant", () => {
  const secret = (ns: string, name: string, type = "kubernetes.io/tls") => `---
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${ns} }
type: ${type}
stringData: { tls.crt: "-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----", tls.key: "-----BEGIN PRIVATE KEY-----\\nx\\n-----END PRIVATE KEY-----" }
`;
  const listeners = `    - { name: missing, port: 443, protocol: HTTPS, hostname: a.test, tls: { certificateRefs: [{ name: nope }] } }
    - { name: opaque, port: 443, protocol: HTTPS, hostname: b.test, tls: { certificateRefs: [{ name: opaque }] } }
    - { name: cross, port: 443, protocol: HTTPS, hostname: c.test, tls: { certificateRefs: [{ name: shared, namespace: certs }] } }
`;
  const base = gw(listeners) + secret("infra", "opaque", "Opaque") + secret("certs", "shared");
  let s = statusOf(modelOf(base), "Gateway", "infra", "edge");
  assert.deepEqual(s.listeners.map((l: { conditions: never }) => conds(l.conditions).ResolvedRefs), ["False/InvalidCertificateRef", "False/InvalidCertificateRef", "False/RefNotPermitted"]);
  const grant = `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: certs-for-infra, namespace: certs }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: Gateway, namespace: infra }]
  to: [{ group: "", kind: Secret, name: shared }]
`;
  const r = modelOf(base + grant);
  s = statusOf(r, "Gateway", "infra", "edge");
  assert.equal(conds(s.listeners[2].conditions).ResolvedRefs, "True/ResolvedRefs");
  assert.equal(r.model.gateways[0]!.listeners[2]!.certificates[0]!.name, "shared");
});

test("allowedRoutes: Same, All and Selector namespaces", () => {
  const listeners = `    - { name: same, port: 80, protocol: HTTP, hostname: same.test }
    - { name: all, port: 80, protocol: HTTP, hostname: all.test, allowedRoutes: { namespaces: { from: All } } }
    - name: sel
      port: 80
      protocol: HTTP
      hostname: sel.test
      allowedRoutes: { namespaces: { from: Selector, selector: { matchLabels: { expose: "yes" } } } }
`;
  const route = (ns: string, section: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r-${section}, namespace: ${ns} }
spec:
  parentRefs: [{ name: edge, namespace: infra, sectionName: ${section} }]
`;
  const ns = `---
apiVersion: v1
kind: Namespace
metadata: { name: labelled, labels: { expose: "yes" } }
`;
  const r = modelOf(gw(listeners) + ns + route("apps", "same") + route("apps", "all") + route("labelled", "sel") + route("infra", "sel").replace("r-sel", "r-sel-infra"));
  const accepted = (ns: string, name: string) => statusOf(r, "HTTPRoute", ns, name).parents[0].conditions[0];
  assert.equal(accepted("apps", "r-same").reason, "NotAllowedByListeners");
  assert.equal(accepted("apps", "r-all").reason, "Accepted");
  assert.equal(accepted("labelled", "r-sel").reason, "Accepted");
  assert.equal(accepted("infra", "r-sel-infra").reason, "NotAllowedByListeners");
});

test("parentRefs: unknown Gateway, unknown sectionName, unknown port", () => {
  const routes = ["{ name: nope }", "{ name: edge, sectionName: nope }", "{ name: edge, port: 8443 }"]
    .map((ref, i) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r${i}, namespace: infra }
spec: { parentRefs: [${ref}] }
`)
    .join("");
  const r = modelOf(gw("    - { name: http, port: 80, protocol: HTTP }\n") + routes);
  const reason = (i: number) => statusOf(r, "HTTPRoute", "infra", `r${i}`).parents[0].conditions[0];
  assert.equal(reason(0).reason, "NoMatchingParent");
  assert.equal(reason(1).reason, "NoMatchingParent");
  assert.match(reason(1).message, /no listener named "nope"/);
  assert.equal(reason(2).reason, "NoMatchingParent");
  assert.match(reason(2).message, /no listener on port 8443/);
  assert.deepEqual(r.problems.map((p) => p.code), ["MG_PARENT_NOT_FOUND", "MG_ROUTE_NOT_ACCEPTED", "MG_ROUTE_NOT_ACCEPTED"]);
});

test("GAMMA: an HTTPRoute whose parent is a Service applies to that Service", () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: apps }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: reviews-v2, namespace: apps }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: reviews-v2, namespace: apps, labels: { kubernetes.io/service-name: reviews-v2 } }
addressType: IPv4
ports: [{ name: http, port: 19083 }]
endpoints: [{ addresses: [127.0.0.1] }, { addresses: [127.0.0.2], conditions: { ready: false } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: apps }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews, port: 9080 }, { group: "", kind: Service, name: ghost }]
  rules: [{ backendRefs: [{ name: reviews-v2, port: 9080, weight: 3 }] }]
`;
  const r = modelOf(yaml);
  const route = r.model.routes[0]!;
  assert.equal(route.parents[0]!.kind, "Service");
  assert.equal(route.parents[0]!.conditions[0]!.status, "True");
  assert.equal(route.parents[1]!.conditions[0]!.reason, "NoMatchingParent");
  const b = route.rules[0]!.backends[0]!;
  assert.ok(b.valid);
  assert.equal(b.weight, 3);
  assert.deepEqual(b.port.endpoints, [
    { address: "127.0.0.1", port: 19083, ready: true },
    { address: "127.0.0.2", port: 19083, ready: false },
  ]);
});

test("a backend Service port that does not exist is BackendNotFound, naming the ports it has", () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: apps }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: apps }
spec:
  parentRefs: [{ group: "", kind: Service, name: web }]
  rules: [{ backendRefs: [{ name: web, port: 8080 }] }]
`;
  const r = modelOf(yaml);
  assert.deepEqual(problemLines(r, "error"), ["MG_BACKEND_NOT_FOUND @11:40 spec.rules[0].backendRefs[0].port: Service apps/web has no port 8080 (ports: 80)"]);
  assert.equal(statusOf(r, "HTTPRoute", "apps", "r").parents[0].conditions[1].reason, "BackendNotFound");
});

const gwAt = (name: string, address: string | undefined, port: number, created: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: infra, creationTimestamp: "${created}" }
spec:
  gatewayClassName: meshgate
${address ? `  addresses: [{ type: IPAddress, value: ${address} }]\n` : ""}  listeners:
    - { name: http, port: ${port}, protocol: HTTP }
`;

test("Gateways on distinct addresses share a port; a collision leaves the newer one not Programmed, naming the holder", () => {
  const r = modelOf(
    GATEWAY_CLASS +
      gwAt("a", "127.0.0.2", 80, "2026-01-01T00:00:00Z") +
      gwAt("b", "127.0.0.3", 80, "2026-01-02T00:00:00Z") +
      gwAt("c", "127.0.0.2", 80, "2026-01-03T00:00:00Z") +
      gwAt("d", undefined, 80, "2026-01-04T00:00:00Z") +
      gwAt("e", undefined, 8080, "2026-01-05T00:00:00Z"),
  );
  const programmed = (n: string) => conds(statusOf(r, "Gateway", "infra", n).conditions).Programmed;
  assert.equal(programmed("a"), "Unknown/Pending");
  assert.equal(programmed("b"), "Unknown/Pending");
  assert.equal(programmed("c"), "False/AddressNotUsable");
  assert.equal(programmed("d"), "False/AddressNotUsable", "0.0.0.0 overlaps 127.0.0.2 and 127.0.0.3");
  assert.equal(programmed("e"), "Unknown/Pending");
  const lines = problemLines(r);
  assert.ok(lines.some((l) => l.startsWith("MG_ADDRESS_IN_USE") && l.includes("spec.addresses[0]: 127.0.0.2:80 is already used by Gateway infra/a")), lines.join("\n"));
});

test("the oldest Gateway keeps the address even when listed last", () => {
  const r = modelOf(GATEWAY_CLASS + gwAt("young", "127.0.0.2", 80, "2026-03-01T00:00:00Z") + gwAt("old", "127.0.0.2", 80, "2026-01-01T00:00:00Z"));
  assert.equal(conds(statusOf(r, "Gateway", "infra", "old").conditions).Programmed, "Unknown/Pending");
  assert.equal(conds(statusOf(r, "Gateway", "infra", "young").conditions).Programmed, "False/AddressNotUsable");
});
