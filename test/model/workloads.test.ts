import { test } from "node:test";
import assert from "node:assert/strict";
import { modelOf, problemLines } from "../helpers/model.js";

const mesh = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [shop] }
`;

test("a Workload's sidecar ports default to port + 10000 (inbound) and + 20000 (outbound)", () => {
  const r = modelOf(`${mesh}---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: cart, namespace: shop }
spec: { port: 8080, serviceAccount: cart, labels: { app: cart } }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: pay, namespace: shop }
spec: { port: 8081, address: 127.0.0.2, protocol: GRPC, sidecar: { inboundPort: 7001, outboundPort: 7002 } }
`);
  assert.deepEqual(problemLines(r), []);
  const [cart, pay] = r.model!.workloads;
  assert.deepEqual([cart!.address, cart!.port, cart!.inboundPort, cart!.outboundPort, cart!.protocol], ["127.0.0.1", 8080, 18080, 28080, "HTTP"]);
  assert.deepEqual(cart!.labels, { app: "cart" });
  assert.deepEqual([pay!.address, pay!.inboundPort, pay!.outboundPort, pay!.protocol], ["127.0.0.2", 7001, 7002, "GRPC"]);
});

test("ports that collide on one address, or defaults past 65535, are reported on the field", () => {
  const r = modelOf(`${mesh}---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: a, namespace: shop }
spec: { port: 8080 }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: b, namespace: shop }
spec: { port: 18080 }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: c, namespace: shop }
spec: { port: 50000, sidecar: { inboundPort: 8080 } }
`);
  const lines = problemLines(r).join("\n");
  assert.match(lines, /MG_PORT_CONFLICT.*spec\.port.*application port 127\.0\.0\.1:18080 is already used by the sidecar inbound port of Workload shop\/a/);
  assert.match(lines, /MG_PORT_CONFLICT.*spec\.sidecar\.inboundPort.*127\.0\.0\.1:8080 is already used by the application port of Workload shop\/a/);
  assert.match(lines, /MG_INVALID_VALUE.*spec\.port.*outbound port defaults to 70000/);
});

test("a Mesh's CA settings, certificate lifetime and trusted roots are resolved", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const r = modelOf(`apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec:
  trustDomain: app.local
  namespaces: [shop]
  ca: { rootName: corp, intermediateTTL: 720h }
  workloadCertTTL: 1h
  trustedRoots: [{ configMapRef: { name: partner-root, namespace: shop } }, { configMapRef: { name: missing } }]
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: edge }
spec: { trustDomain: edge.local, namespaces: [edge], ca: { mode: Provided, path: certs/edge } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: partner-root, namespace: shop }
data: { ca.crt: ${JSON.stringify(pem)} }
`, "/etc/meshgate/mesh.yaml");
  const [app, edge] = r.model!.meshes;
  assert.deepEqual(app!.ca, { mode: "Managed", rootName: "corp", intermediateTtlMs: 720 * 3_600_000 });
  assert.equal(app!.workloadCertTtlMs, 3_600_000);
  assert.deepEqual(app!.trustedRootsPem, [pem]);
  assert.deepEqual(edge!.ca, { mode: "Provided", path: "/etc/meshgate/certs/edge" });
  assert.match(problemLines(r).join("\n"), /MG_TARGET_NOT_FOUND.*spec\.trustedRoots\[1\]\.configMapRef\.name.*ConfigMap default\/missing is not defined/);
});

const services = `---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { ports: [{ name: http, port: 80 }, { name: admin, port: 9090 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ledger, namespace: books }
spec: { ports: [{ name: http, port: 8080 }] }
`;
const upstreamsOf = (name: string, port: number, upstreams: string, extra = "") => `---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: ${name}, namespace: shop }
spec:
  port: ${port}${extra}
  sidecar:
    upstreams:
${upstreams}`;

test("sidecar upstreams resolve their Service port, in the Workload's namespace unless one is named", () => {
  const r = modelOf(`${mesh}${services}${upstreamsOf("web", 8000, `      - { service: cart, port: 9090, localPort: 15001 }
      - { service: books/ledger, port: 8080, localPort: 15002 }
`)}`);
  assert.deepEqual(problemLines(r), []);
  const [web] = r.model!.workloads;
  assert.deepEqual(
    web!.upstreams.map((u) => [`${u.service.namespace}/${u.service.name}`, u.port.name, u.port.port, u.localPort]),
    [["shop/cart", "admin", 9090, 15001], ["books/ledger", "http", 8080, 15002]],
  );
});

test("an upstream naming an unknown Service or Service port is reported on its field and left out", () => {
  const r = modelOf(`${mesh}${services}${upstreamsOf("web", 8000, `      - { service: carts, port: 80, localPort: 15001 }
      - { service: cart, port: 8080, localPort: 15002 }
      - { service: books/cart, port: 80, localPort: 15003 }
      - { service: cart, port: 80, localPort: 15004 }
`)}`);
  const lines = problemLines(r);
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.match(lines[0]!, /^MG_TARGET_NOT_FOUND @\d+:\d+ spec\.sidecar\.upstreams\[0\]\.service: Service shop\/carts is not defined/);
  assert.match(lines[1]!, /^MG_TARGET_NOT_FOUND @\d+:\d+ spec\.sidecar\.upstreams\[1\]\.port: Service shop\/cart has no port 8080 \(its ports: 80, 9090\)/);
  assert.match(lines[2]!, /^MG_TARGET_NOT_FOUND @\d+:\d+ spec\.sidecar\.upstreams\[2\]\.service: Service books\/cart is not defined/);
  assert.deepEqual(r.model!.workloads[0]!.upstreams.map((u) => u.localPort), [15004]);
});

test("an upstream's localPort may not collide with the application's, the sidecar's or another upstream's port", () => {
  const r = modelOf(`${mesh}${services}${upstreamsOf("web", 8000, `      - { service: cart, port: 80, localPort: 8000 }
      - { service: cart, port: 80, localPort: 18000 }
      - { service: cart, port: 80, localPort: 7002 }
      - { service: cart, port: 80, localPort: 15001 }
      - { service: cart, port: 9090, localPort: 15001 }
      - { service: cart, port: 80, localPort: 9000 }
`, "\n  address: 127.0.0.1")}${upstreamsOf("other", 9000, `      - { service: cart, port: 80, localPort: 15002 }
`, "\n  address: 127.0.0.2")}---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: pay, namespace: shop }
spec: { port: 8100, sidecar: { outboundPort: 7002 } }
`);
  const lines = problemLines(r).join("\n");
  assert.match(lines, /MG_PORT_CONFLICT .*spec\.sidecar\.upstreams\[0\]\.localPort: the sidecar upstream \(cart:80\) port 127\.0\.0\.1:8000 is already used by the application port of Workload shop\/web/);
  assert.match(lines, /MG_PORT_CONFLICT .*spec\.sidecar\.upstreams\[1\]\.localPort: .*127\.0\.0\.1:18000 is already used by the sidecar inbound port of Workload shop\/web/);
  assert.match(lines, /MG_PORT_CONFLICT .*spec\.sidecar\.outboundPort: the sidecar outbound port 127\.0\.0\.1:7002 is already used by the sidecar upstream \(cart:80\) port of Workload shop\/web/);
  assert.match(lines, /MG_PORT_CONFLICT .*spec\.sidecar\.upstreams\[4\]\.localPort: the sidecar upstream \(cart:9090\) port 127\.0\.0\.1:15001 is already used by the sidecar upstream \(cart:80\) port of Workload shop\/web/);
  // Another address: no conflict (the other workload's application port is on 127.0.0.2).
  assert.doesNotMatch(lines, /upstreams\[5\]|upstreams\[3\]|shop\/other/);
  assert.equal(problemLines(r).length, 4, lines);
  // Entries whose port is taken are left out (the sidecar could not bind them); the first
  // to claim a port keeps it.
  assert.deepEqual(r.model!.workloads[0]!.upstreams.map((u) => [u.port.port, u.localPort]), [[80, 7002], [80, 15001], [80, 9000]]);
});

test("an upstream's service is [namespace/]name and every field is required (schema)", () => {
  const r = modelOf(`${mesh}${services}${upstreamsOf("web", 8000, `      - { service: a/b/c, port: 80, localPort: 15001 }
      - { service: cart, port: 80 }
`)}`);
  const lines = problemLines(r).join("\n");
  assert.match(lines, /MG_SCHEMA .*spec\.sidecar\.upstreams\[0\]\.service/);
  assert.match(lines, /MG_SCHEMA .*spec\.sidecar\.upstreams\[1\].*localPort/);
  assert.ok(r.problems.every((p) => p.code !== "MG_SCHEMA" || p.blocking));
});
