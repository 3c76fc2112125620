import { test } from "node:test";
import assert from "node:assert/strict";
import type { Model } from "../../src/model/index.js";
import { clusterTrafficSettings, routeTrafficSettings } from "../../src/translate/backend-traffic-policy.js";
import { GATEWAY_CLASS, modelOf, problemLines, statusOf } from "../helpers/model.js";

const BASE = `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec: { gatewayClassName: meshgate, listeners: [{ name: http, port: 80, protocol: HTTP }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: infra }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: infra }
spec: { parentRefs: [{ name: gw }], rules: [{ backendRefs: [{ name: web, port: 80 }] }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other, namespace: infra }
spec: { parentRefs: [{ name: gw }], rules: [{ backendRefs: [{ name: web, port: 80 }] }] }
`;

const ON_GATEWAY = "targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]";
const onRoute = (name = "web") => `targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${name} }]`;

function btp(name: string, body: string, created?: string): string {
  return `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: ${name}, namespace: infra${created ? `, creationTimestamp: "${created}"` : ""} }
spec:
${body.replace(/^/gm, "  ")}
`;
}

function model(extra: string): Model {
  const r = modelOf(BASE + extra);
  assert.deepEqual(problemLines(r, "error"), []);
  return r.model;
}

function settings(m: Model, routeName = "web") {
  const route = m.routes.find((r) => r.resource.name === routeName)!;
  const gw = m.gateways[0]!;
  return { route: routeTrafficSettings(m, route, gw), cluster: clusterTrafficSettings(m, route, gw) };
}

test("no policy: no route settings, no cluster settings", () => {
  assert.deepEqual(settings(model("")), { route: {}, cluster: undefined });
});

test("every supported field of a Gateway-targeted policy maps to the IR", () => {
  const m = model(
    btp(
      "all",
      `${ON_GATEWAY}
rateLimit:
  local:
    rules:
      - clientSelectors:
          - headers:
              - { name: X-User, type: Distinct }
              - { name: x-tier, value: gold }
              - { name: x-re, type: RegularExpression, value: "a.*", invert: true }
            sourceCIDR: { value: 10.0.0.0/8, type: Distinct }
            methods: [{ value: GET }, { value: POST }]
            path: { type: Exact, value: /login }
        limit: { requests: 10, unit: Second }
      - clientSelectors: [{ path: { value: /api } }, { sourceCIDR: { value: 0.0.0.0/0 } }]
        limit: { requests: 100, unit: Minute }
  global:
    rules:
      - limit: { requests: 1000, unit: Hour }
        shared: true
      - limit: { requests: 5, unit: Day }
retry:
  numRetries: 4
  retryOn: { triggers: [5xx, reset], httpStatusCodes: [502, 504] }
  perRetry: { timeout: 250ms, backOff: { baseInterval: 100ms, maxInterval: 1s } }
timeout:
  http: { requestTimeout: 1m30s }
  tcp: { connectTimeout: 2s }
circuitBreaker: { maxConnections: 10, maxPendingRequests: 20, maxParallelRequests: 30, maxParallelRetries: 4 }
healthCheck:
  passive: { consecutive5XxErrors: 3, consecutiveGatewayErrors: 2, interval: 5s, baseEjectionTime: 1m, maxEjectionPercent: 50 }
  active: { type: HTTP, http: { path: /healthz, expectedStatuses: [200, 204] }, interval: 10s, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 3 }
loadBalancer: { type: LeastRequest }`,
    ),
  );
  const route = "httproute/infra/web";
  assert.deepEqual(settings(m), {
    route: {
      localRateLimit: {
        rules: [
          {
            id: `infra/all/rule/0/${route}`,
            clientSelectors: [
              {
                headers: [
                  { name: "x-user", kind: "Distinct" },
                  { name: "x-tier", kind: "Exact", value: "gold" },
                  { name: "x-re", kind: "RegularExpression", value: "a.*", invert: true },
                ],
                sourceCidr: { cidr: "10.0.0.0/8", distinct: true },
                methods: ["GET", "POST"],
                path: { kind: "Exact", value: "/login" },
              },
            ],
            requests: 10,
            unit: "Second",
          },
          {
            id: `infra/all/rule/1/${route}`,
            clientSelectors: [{ headers: [], path: { kind: "PathPrefix", value: "/api" } }, { headers: [], sourceCidr: { cidr: "0.0.0.0/0", distinct: false } }],
            requests: 100,
            unit: "Minute",
          },
        ],
      },
      globalRateLimit: {
        domain: "infra/all",
        rules: [
          { id: "infra/all/rule/0", clientSelectors: [], requests: 1000, unit: "Hour" },
          { id: `infra/all/rule/1/${route}`, clientSelectors: [], requests: 5, unit: "Day" },
        ],
      },
      retry: { attempts: 4, on: ["5xx", "reset", "retriable-status-codes"], statusCodes: [502, 504], perTryTimeoutMs: 250, backoff: { baseMs: 100, maxMs: 1000 } },
      timeoutMs: 90_000,
    },
    cluster: {
      key: "btp:infra/all",
      circuitBreakers: { maxConnections: 10, maxPendingRequests: 20, maxRequests: 30, maxRetries: 4 },
      outlierDetection: { consecutive5xx: 3, consecutiveGatewayErrors: 2, intervalMs: 5000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
      healthCheck: { path: "/healthz", intervalMs: 10_000, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 3, expectedStatuses: [200, 204] },
      loadBalancer: "LEAST_REQUEST",
      connectTimeoutMs: 2000,
    },
  });
  // A Gateway's limits count per route: the other route gets its own rule ids (shared rules excepted).
  assert.deepEqual(settings(m, "other").route.globalRateLimit!.rules.map((r) => r.id), ["infra/all/rule/0", "infra/all/rule/1/httproute/infra/other"]);
});

test("Envoy Gateway's defaults fill what a block leaves out", () => {
  const m = model(
    btp(
      "defaults",
      `${onRoute()}
retry: { perRetry: { backOff: { baseInterval: 50ms } } }
circuitBreaker: { maxConnections: 5 }
healthCheck: { passive: {}, active: { type: HTTP, http: { path: /ready } } }
loadBalancer: { type: Random }`,
    ),
  );
  assert.deepEqual(settings(m), {
    route: {
      retry: {
        attempts: 2,
        on: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
        statusCodes: [503],
        backoff: { baseMs: 50, maxMs: 500 },
      },
    },
    cluster: {
      key: "btp:infra/defaults",
      circuitBreakers: { maxConnections: 5, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 1024 },
      outlierDetection: { consecutive5xx: 5, intervalMs: 3000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 },
      healthCheck: { path: "/ready", intervalMs: 3000, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 1, expectedStatuses: [200] },
      loadBalancer: "RANDOM",
    },
  });
  // Status codes without triggers retry on those codes; round robin maps too.
  const m2 = model(btp("codes", `${onRoute()}\nretry: { numRetries: 1, retryOn: { httpStatusCodes: [429] } }\nloadBalancer: { type: RoundRobin }`));
  assert.deepEqual(settings(m2).route.retry, { attempts: 1, on: ["retriable-status-codes"], statusCodes: [429] });
  assert.equal(settings(m2).cluster!.loadBalancer, "ROUND_ROBIN");
});

test("a route-targeted policy replaces its Gateway's policy whole (no mergeType)", () => {
  const m = model(
    btp("gw", `${ON_GATEWAY}\nretry: { numRetries: 5 }\ncircuitBreaker: { maxConnections: 1 }\ntimeout: { http: { requestTimeout: 10s } }`) +
      btp("route", `${onRoute()}\ntimeout: { http: { requestTimeout: 2s } }`),
  );
  assert.deepEqual(settings(m), { route: { timeoutMs: 2000 }, cluster: undefined });
  // The Gateway's policy still applies to the gateway's other routes.
  assert.deepEqual(settings(m, "other").route, { retry: { attempts: 5, on: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"], statusCodes: [503] }, timeoutMs: 10_000 });
  assert.equal(settings(m, "other").cluster!.key, "btp:infra/gw");
});

test("with mergeType the route's policy is merged onto the Gateway's field by field (the route wins, lists replace)", () => {
  for (const mergeType of ["StrategicMerge", "JSONMerge"]) {
    const m = model(
      btp(
        "gw",
        `${ON_GATEWAY}
retry: { numRetries: 5, retryOn: { triggers: [reset, 5xx] } }
circuitBreaker: { maxConnections: 1, maxPendingRequests: 2 }
timeout: { http: { requestTimeout: 10s }, tcp: { connectTimeout: 3s } }
rateLimit: { global: { rules: [{ limit: { requests: 1, unit: Second } }] } }`,
      ) +
        btp(
          "route",
          `${onRoute()}
mergeType: ${mergeType}
retry: { retryOn: { triggers: [gateway-error] } }
circuitBreaker: { maxPendingRequests: 7 }
timeout: { http: { requestTimeout: 2s } }
rateLimit: { local: { rules: [{ limit: { requests: 9, unit: Second } }] } }`,
        ),
    );
    const s = settings(m);
    assert.deepEqual(s.route.retry, { attempts: 5, on: ["gateway-error"] }, mergeType);
    assert.equal(s.route.timeoutMs, 2000);
    assert.deepEqual(s.route.localRateLimit!.rules.map((r) => r.id), ["infra/route/rule/0/httproute/infra/web"]);
    assert.equal(s.route.globalRateLimit!.domain, "infra/gw");
    assert.deepEqual(s.cluster, {
      key: "btp:infra/route+infra/gw",
      circuitBreakers: { maxConnections: 1, maxPendingRequests: 7, maxRequests: 1024, maxRetries: 1024 },
      connectTimeoutMs: 3000,
    });
  }
});

test("several policies on one route: the oldest applies (creationTimestamp, then name)", () => {
  const m = model(
    btp("a-new", `${onRoute()}\ntimeout: { http: { requestTimeout: 1s } }`, "2024-05-01T00:00:00Z") +
      btp("b-old", `${onRoute()}\ntimeout: { http: { requestTimeout: 2s } }`, "2024-01-01T00:00:00Z"),
  );
  assert.equal(settings(m).route.timeoutMs, 2000);
  const n = model(btp("b", `${onRoute()}\ntimeout: { http: { requestTimeout: 2s } }`) + btp("a", `${onRoute()}\ntimeout: { http: { requestTimeout: 1s } }`));
  assert.equal(settings(n).route.timeoutMs, 1000);
});

test("GAMMA routes (no Gateway) take only route-targeted policies", () => {
  const m = model(btp("route", `${onRoute()}\ntimeout: { http: { requestTimeout: 3s } }`) + btp("gw", `${ON_GATEWAY}\nretry: { numRetries: 1 }`));
  const route = m.routes.find((r) => r.resource.name === "web")!;
  assert.deepEqual(routeTrafficSettings(m, route, undefined), { timeoutMs: 3000 });
  assert.deepEqual(routeTrafficSettings(m, m.routes.find((r) => r.resource.name === "other")!, undefined), {});
});

test("settings meshgate cannot honour are MG_UNSUPPORTED; the policy is not Accepted and applies nothing", () => {
  const r = modelOf(
    BASE +
      btp(
        "bad",
        `targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: web, sectionName: rule-a }]
rateLimit:
  local:
    rules:
      - clientSelectors:
          - queryParams: [{ name: q, value: x }]
          - methods: [{ value: GET, invert: true }]
            path: { value: /x, invert: true }
        limit: { requests: 1, unit: Month }
        shadowMode: true
loadBalancer: { type: ConsistentHash, consistentHash: { type: SourceIP } }
healthCheck: { active: { type: TCP, tcp: {} } }
timeout: { http: { connectionIdleTimeout: 5s } }
faultInjection: { abort: { httpStatus: 500 } }`,
      ),
  );
  assert.equal(r.usable, true);
  assert.deepEqual(
    r.problems.filter((p) => p.code === "MG_UNSUPPORTED").map((p) => p.path!.join(".")).sort(),
    [
      "spec.faultInjection",
      "spec.healthCheck.active.tcp",
      "spec.healthCheck.active.type",
      "spec.loadBalancer.consistentHash",
      "spec.loadBalancer.type",
      "spec.rateLimit.local.rules.0.clientSelectors.0.queryParams",
      "spec.rateLimit.local.rules.0.clientSelectors.1.methods.0.invert",
      "spec.rateLimit.local.rules.0.clientSelectors.1.path.invert",
      "spec.rateLimit.local.rules.0.limit.unit",
      "spec.rateLimit.local.rules.0.shadowMode",
      "spec.targetRefs.0.sectionName",
      "spec.timeout.http.connectionIdleTimeout",
    ],
  );
  assert.match(r.problems.find((p) => p.path!.join(".") === "spec.loadBalancer.type")!.message, /ConsistentHash/);
  assert.equal(statusOf(r, "BackendTrafficPolicy", "infra", "bad").conditions[0].status, "False");
  assert.deepEqual(settings(r.model), { route: {}, cluster: undefined });
});

test("mergeType is refused on a policy that targets a Gateway (Envoy Gateway's CRD rule)", () => {
  const r = modelOf(BASE + btp("gw", `${ON_GATEWAY}\nmergeType: StrategicMerge\nretry: { numRetries: 1 }`));
  assert.deepEqual(problemLines(r, "error").map((l) => l.split(" @")[0] + " " + l.split(" ")[2]), ["MG_INVALID_VALUE spec.mergeType:"]);
});
