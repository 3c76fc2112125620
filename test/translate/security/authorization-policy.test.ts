import { test } from "node:test";
import assert from "node:assert/strict";
import type { Model } from "../../../src/model/index.js";
import { authorizationFor, normalisePrincipal } from "../../../src/translate/security/authorization-policy.js";
import type { ProxyTarget } from "../../../src/translate/proxy-target.js";
import { modelOf } from "../../helpers/model.js";
import { MESH, gateway, meshModel, policy, sidecar } from "./fixture.js";

const names = (m: Model, t: ProxyTarget) => authorizationFor(m, t)?.policies.map((p) => p.name);

test("no AuthorizationPolicy: nothing to enforce (undefined)", () => {
  const m = meshModel(policy("AuthorizationPolicy", "apps", "only-db", "{ selector: { matchLabels: { app: db } } }"));
  assert.equal(authorizationFor(m, sidecar(m, "apps/web")), undefined);
  assert.equal(authorizationFor(m, gateway(m)), undefined);
});

test("root namespace (istio-system) without selector applies to every proxy, gateways included", () => {
  const m = meshModel(policy("AuthorizationPolicy", "istio-system", "mesh", "{ action: DENY, rules: [{}] }"));
  for (const t of [sidecar(m, "apps/web"), sidecar(m, "other/db"), gateway(m)]) assert.deepEqual(names(m, t), ["istio-system/mesh"]);
});

test("a policy without selector applies to every proxy of its namespace only", () => {
  const m = meshModel(policy("AuthorizationPolicy", "apps", "ns-wide", "{}") + policy("AuthorizationPolicy", "edge", "gw-ns", "{}"));
  assert.deepEqual(names(m, sidecar(m, "apps/web")), ["apps/ns-wide"]);
  assert.deepEqual(names(m, sidecar(m, "apps/api")), ["apps/ns-wide"]);
  assert.equal(names(m, sidecar(m, "other/db")), undefined);
  assert.deepEqual(names(m, gateway(m)), ["edge/gw-ns"]);
});

test("selector.matchLabels picks matching workloads of its namespace; in the root namespace, of every namespace", () => {
  const m = meshModel(
    policy("AuthorizationPolicy", "apps", "web-only", "{ selector: { matchLabels: { app: web, tier: front } } }") +
      policy("AuthorizationPolicy", "apps", "no-match", "{ selector: { matchLabels: { app: web, tier: back } } }") +
      policy("AuthorizationPolicy", "istio-system", "all-web", "{ selector: { matchLabels: { app: web } } }") +
      policy("AuthorizationPolicy", "edge", "by-gateway-label", '{ selector: { matchLabels: { "gateway.networking.k8s.io/gateway-name": gw, team: edge } } }'),
  );
  assert.deepEqual(names(m, sidecar(m, "apps/web")), ["apps/web-only", "istio-system/all-web"]);
  assert.equal(names(m, sidecar(m, "apps/api")), undefined);
  assert.deepEqual(names(m, sidecar(m, "other/db")), ["istio-system/all-web"]);
  assert.deepEqual(names(m, gateway(m)), ["edge/by-gateway-label"]);
});

test("targetRef to a Gateway applies to that gateway's proxy only; to a Service, to the workloads backing it", () => {
  const m = meshModel(
    policy("AuthorizationPolicy", "edge", "at-gw", "{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }] }") +
      policy("AuthorizationPolicy", "apps", "at-web-svc", '{ targetRef: { group: "", kind: Service, name: web } }'),
  );
  assert.deepEqual(names(m, gateway(m)), ["edge/at-gw"]);
  assert.deepEqual(names(m, sidecar(m, "apps/web")), ["apps/at-web-svc"]);
  assert.equal(names(m, sidecar(m, "apps/api")), undefined);
  assert.equal(names(m, sidecar(m, "other/db")), undefined);
});

test("a targetRef that resolves to nothing applies nowhere (never namespace-wide)", () => {
  const r = modelOf(`${MESH}${policy("AuthorizationPolicy", "apps", "dangling", "{ targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: nope } }")}`);
  assert.deepEqual(r.problems.filter((p) => p.severity === "error").map((p) => p.code), ["MG_TARGET_NOT_FOUND"]);
  assert.equal(authorizationFor(r.model, sidecar(r.model, "apps/web")), undefined);
});

test("every field of rules maps to the IR; absent lists stay absent; ports become numbers (a sidecar's: its inbound port)", () => {
  const m = meshModel(
    policy(
      "AuthorizationPolicy",
      "apps",
      "full",
      `
  selector: { matchLabels: { app: web } }
  action: ALLOW
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/apps/sa/api"]
            notPrincipals: ["other.org/ns/x/sa/*"]
            requestPrincipals: ["https://issuer.test/alice"]
            notRequestPrincipals: ["*/bob"]
            namespaces: [apps]
            notNamespaces: [other]
            ipBlocks: [10.0.0.0/8]
            notIpBlocks: [10.1.0.0/16]
            remoteIpBlocks: [192.168.1.1]
            notRemoteIpBlocks: [192.168.2.0/24]
        - source: { namespaces: ["*"] }
      to:
        - operation:
            hosts: [web.test]
            notHosts: ["*.evil"]
            ports: ["8080"]
            notPorts: ["9090"]
            methods: [GET]
            notMethods: [DELETE]
            paths: ["/api/*"]
            notPaths: ["/api/admin"]
      when:
        - { key: "request.auth.claims[groups]", values: [admins], notValues: [guests] }
        - { key: source.principal, values: ["cluster.local/ns/apps/sa/api"] }
    - to: [{ operation: { methods: [HEAD] } }]`,
    ),
  );
  assert.deepEqual(authorizationFor(m, sidecar(m, "apps/web")), {
    policies: [
      {
        name: "apps/full",
        action: "ALLOW",
        rules: [
          {
            from: [
              {
                principals: ["spiffe://example.org/ns/apps/sa/api"],
                notPrincipals: ["spiffe://other.org/ns/x/sa/*"],
                requestPrincipals: ["https://issuer.test/alice"],
                notRequestPrincipals: ["*/bob"],
                namespaces: ["apps"],
                notNamespaces: ["other"],
                ipBlocks: ["10.0.0.0/8"],
                notIpBlocks: ["10.1.0.0/16"],
                remoteIpBlocks: ["192.168.1.1"],
                notRemoteIpBlocks: ["192.168.2.0/24"],
              },
              { namespaces: ["*"] },
            ],
            to: [{ hosts: ["web.test"], notHosts: ["*.evil"], ports: [18080], notPorts: [0], methods: ["GET"], notMethods: ["DELETE"], paths: ["/api/*"], notPaths: ["/api/admin"] }],
            when: [
              { key: "request.auth.claims[groups]", values: ["admins"], notValues: ["guests"] },
              { key: "source.principal", values: ["spiffe://example.org/ns/apps/sa/api"] },
            ],
          },
          { to: [{ methods: ["HEAD"] }] },
        ],
      },
    ],
  });
});

test("principals: the IR holds full SPIFFE IDs; cluster.local means the proxy's own trust domain", () => {
  assert.equal(normalisePrincipal("cluster.local/ns/a/sa/b", "example.org"), "spiffe://example.org/ns/a/sa/b");
  assert.equal(normalisePrincipal("cluster.local/ns/a/sa/b", undefined), "spiffe://cluster.local/ns/a/sa/b");
  assert.equal(normalisePrincipal("spiffe://other.org/ns/a/sa/b", "example.org"), "spiffe://other.org/ns/a/sa/b");
  assert.equal(normalisePrincipal("other.org/ns/a/*", "example.org"), "spiffe://other.org/ns/a/*");
  assert.equal(normalisePrincipal("*/ns/a/sa/b", "example.org"), "*/ns/a/sa/b");
  assert.equal(normalisePrincipal("*", "example.org"), "*");
  // A gateway's trust domain is that of the mesh listing its namespace.
  const m = meshModel(policy("AuthorizationPolicy", "edge", "p", '{ rules: [{ from: [{ source: { principals: ["cluster.local/ns/apps/sa/web"] } }] }] }'));
  assert.deepEqual(authorizationFor(m, gateway(m))!.policies[0]!.rules[0]!.from![0]!.principals, ["spiffe://example.org/ns/apps/sa/web"]);
});

test("policies are ordered DENY, ALLOW, AUDIT, then by namespace/name", () => {
  const m = meshModel(
    policy("AuthorizationPolicy", "apps", "b-allow", "{ action: ALLOW, rules: [{}] }") +
      policy("AuthorizationPolicy", "apps", "a-audit", "{ action: AUDIT, rules: [{}] }") +
      policy("AuthorizationPolicy", "apps", "z-deny", "{ action: DENY, rules: [{}] }") +
      policy("AuthorizationPolicy", "apps", "a-allow", "{ rules: [{}] }") +
      policy("AuthorizationPolicy", "istio-system", "c-deny", "{ action: DENY, rules: [{}] }"),
  );
  assert.deepEqual(
    authorizationFor(m, sidecar(m, "apps/web"))!.policies.map((p) => `${p.action} ${p.name}`),
    ["DENY apps/z-deny", "DENY istio-system/c-deny", "ALLOW apps/a-allow", "ALLOW apps/b-allow", "AUDIT apps/a-audit"],
  );
});

test("deny-all forms: spec {} and ALLOW without rules match nothing; rules [{}] matches everything", () => {
  const m = meshModel(
    policy("AuthorizationPolicy", "apps", "empty", "{}") +
      policy("AuthorizationPolicy", "apps", "allow-nothing", "{ action: ALLOW }") +
      policy("AuthorizationPolicy", "apps", "allow-all", "{ action: ALLOW, rules: [{}] }"),
  );
  assert.deepEqual(authorizationFor(m, sidecar(m, "apps/web")), {
    policies: [
      { name: "apps/allow-all", action: "ALLOW", rules: [{}] },
      { name: "apps/allow-nothing", action: "ALLOW", rules: [] },
      { name: "apps/empty", action: "ALLOW", rules: [] },
    ],
  });
});

test("ports: a sidecar sees the workload's port as its inbound port; other ports never reach it; a gateway keeps them", () => {
  const m = meshModel(
    policy("AuthorizationPolicy", "istio-system", "ports", `
  action: DENY
  rules:
    - to: [{ operation: { ports: ["8080", "80"], notPorts: ["8081"] } }]
      when: [{ key: destination.port, values: ["8080"], notValues: ["80"] }]`),
  );
  const rule = (t: ProxyTarget) => authorizationFor(m, t)!.policies[0]!.rules[0]!;
  // apps/web listens on 8080; its sidecar accepts on 18080 (port + 10000).
  assert.deepEqual(rule(sidecar(m, "apps/web")), { to: [{ ports: [18080, 0], notPorts: [0] }], when: [{ key: "destination.port", values: ["18080"], notValues: ["0"] }] });
  assert.deepEqual(rule(sidecar(m, "apps/api")), { to: [{ ports: [0, 0], notPorts: [18081] }], when: [{ key: "destination.port", values: ["0"], notValues: ["0"] }] });
  assert.deepEqual(rule(gateway(m)), { to: [{ ports: [8080, 80], notPorts: [8081] }], when: [{ key: "destination.port", values: ["8080"], notValues: ["80"] }] });
});
