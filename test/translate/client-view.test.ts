import { test } from "node:test";
import assert from "node:assert/strict";
import { irOf, proxy, service, table } from "./helpers.js";

const MESHED = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [shop] }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: shop }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: grpc }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: echo-v1, namespace: shop }
spec: { port: 15051, protocol: GRPC, services: [echo] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo-split, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 50051 }]
  rules:
    - matches: [{ method: { service: echo.Echo, method: Ping } }]
      backendRefs: [{ name: plain, port: 8080 }]
    - backendRefs: [{ name: echo, port: 50051 }]
`;

test("the client view: an API listener and route table per Service port, named host:port, without secrets", () => {
  const s = irOf(MESHED + service("shop", "plain"));
  const c = proxy(s, "*");
  assert.deepEqual([c.role, c.namespace, c.name, c.identity, c.secrets], ["client", "", "*", undefined, []]);
  assert.deepEqual(c.listeners.map((l) => [l.kind, l.name, l.kind === "api" && l.http.routeTable]), [
    ["api", "echo.shop.svc.cluster.local:50051", "echo.shop.svc.cluster.local:50051"],
    ["api", "plain.shop.svc.cluster.local:8080", "plain.shop.svc.cluster.local:8080"],
  ]);
  const [vh] = table(s, "echo.shop.svc.cluster.local:50051").virtualHosts;
  assert.deepEqual(vh!.domains, [
    "echo.shop.svc.cluster.local:50051",
    "echo.shop.svc.cluster.local",
    "echo.shop.svc:50051",
    "echo.shop.svc",
    "echo.shop:50051",
    "echo.shop",
    "echo:50051",
    "echo",
  ]);
  // Producer GAMMA routes apply to it too.
  assert.deepEqual(vh!.routes.map((r) => [r.match.path.value, r.action.kind === "forward" && r.action.backends[0]!.cluster]), [
    ["/echo.Echo/Ping", "outbound|8080||plain.shop.svc.cluster.local|h2"],
    ["/", "outbound|50051||echo.shop.svc.cluster.local|plaintext"],
  ]);
});

test("client clusters are plaintext: mesh Services at their sidecars' inbound ports, others at their endpoints", () => {
  const s = irOf(MESHED + service("shop", "plain", 8080, ["10.0.0.2", "10.0.0.1"]));
  const mesh = s.clusters.get("outbound|50051||echo.shop.svc.cluster.local|plaintext")!;
  assert.deepEqual([mesh.tls, mesh.endpoints, mesh.protocol], [undefined, [{ address: "127.0.0.1", port: 25051, healthy: true }], "http2"]);
  const plain = s.clusters.get("outbound|8080||plain.shop.svc.cluster.local|h2")!;
  assert.deepEqual([plain.tls, plain.endpoints.map((e) => e.address)], [undefined, ["10.0.0.1", "10.0.0.2"]]);
  assert.deepEqual(proxy(s, "*").clusters, ["outbound|50051||echo.shop.svc.cluster.local|plaintext", "outbound|8080||plain.shop.svc.cluster.local", "outbound|8080||plain.shop.svc.cluster.local|h2"]);
});
