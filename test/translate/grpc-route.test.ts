import { test } from "node:test";
import assert from "node:assert/strict";
import { ANY_HOST, GW_TABLE, HTTP_GW, httpRoute, irOf, order, route, service, table, vhost } from "./helpers.js";

function grpcRoute(name: string, rules: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: ${name}, namespace: infra }
spec:
  parentRefs: [{ name: gw }]
  rules:
${rules}`;
}

const V1 = "outbound|8080||v1.infra.svc.cluster.local";

test("method matches become path matches on /service/method; header matches are kept", () => {
  const s = irOf(
    HTTP_GW +
      service("infra", "v1") +
      grpcRoute(
        "g",
        `    - matches:
        - method: { service: pkg.Echo, method: Say }
        - method: { service: pkg.Echo }
        - method: { method: Say.Hi }
        - method: { type: RegularExpression, service: "pkg\\\\..*", method: "S.*" }
        - headers: [{ name: X-Tenant, value: a }]
      backendRefs: [{ name: v1, port: 8080 }]
`,
      ),
  );
  const v = vhost(table(s, GW_TABLE), ANY_HOST);
  const m = (i: number) => route(v, `grpcroute/infra/g/rule/0/match/${i}`).match;
  assert.deepEqual(m(0).path, { kind: "Exact", value: "/pkg.Echo/Say" });
  assert.deepEqual(m(1).path, { kind: "PathPrefix", value: "/pkg.Echo" });
  assert.deepEqual(m(2).path, { kind: "RegularExpression", value: "/[^/]+/Say\\.Hi" });
  assert.deepEqual(m(3).path, { kind: "RegularExpression", value: "/pkg\\..*/S.*" });
  assert.deepEqual(m(4), { path: { kind: "PathPrefix", value: "/" }, headers: [{ name: "x-tenant", kind: "Exact", value: "a" }], queryParams: [] });
  // Precedence: service characters, then method characters, then headers.
  assert.deepEqual(order(v).map((n) => n.split("/").pop()), ["0", "1", "3", "2", "4"]);
  const action = route(v, "grpcroute/infra/g/rule/0/match/0").action;
  assert.deepEqual(action, { kind: "forward", backends: [{ cluster: `${V1}|h2`, weight: 1 }], grpc: true });
  assert.equal(s.clusters.get(`${V1}|h2`)!.protocol, "http2");
});

test("a GRPCRoute to an h2c Service uses its cluster as is; GRPCRoutes go before HTTPRoutes in a shared virtual host", () => {
  const s = irOf(
    HTTP_GW +
      service("infra", "v1", 8080, ["10.0.0.1"], "kubernetes.io/h2c") +
      httpRoute("h", "    - backendRefs: [{ name: v1, port: 8080 }]\n") +
      grpcRoute("g", "    - matches: [{ method: { service: pkg.Echo } }]\n      backendRefs: [{ name: v1, port: 8080 }]\n"),
  );
  const v = vhost(table(s, GW_TABLE), ANY_HOST);
  assert.deepEqual(order(v), ["grpcroute/infra/g/rule/0/match/0", "httproute/infra/h/rule/0/match/0"]);
  assert.deepEqual(v.routes.map((r) => r.action.kind === "forward" && r.action.backends[0]!.cluster), [V1, V1]);
  assert.equal(s.clusters.get(V1)!.protocol, "http2");
});
