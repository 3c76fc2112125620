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
