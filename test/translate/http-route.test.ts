import { test } from "node:test";
import assert from "node:assert/strict";
import { ANY_HOST, GW_TABLE, HTTP_GW, httpRoute, irOf, route, service, table, vhost } from "./helpers.js";

const V1 = "outbound|8080||v1.infra.svc.cluster.local";
const V2 = "outbound|8080||v2.infra.svc.cluster.local";
const backends = service("infra", "v1") + service("infra", "v2", 8080, ["10.0.0.2"]);

function routesOf(rules: string, errors: string[] = []) {
  const s = irOf(HTTP_GW + backends + httpRoute("r", rules), errors);
  return { s, v: vhost(table(s, GW_TABLE), ANY_HOST) };
}

test("matches: Exact, PathPrefix (trailing slash ignored), RegularExpression, headers, query params, method; default PathPrefix /", () => {
  const { v } = routesOf(`    - matches:
        - path: { type: Exact, value: /exact }
        - path: { type: PathPrefix, value: /prefix/ }
          headers: [{ name: X-Env, value: canary }, { type: RegularExpression, name: X-Id, value: "[0-9]+" }]
          queryParams: [{ name: q, value: "1" }, { name: Q, value: "2" }]
          method: POST
        - path: { type: RegularExpression, value: "/re/[a-z]+" }
      backendRefs: [{ name: v1, port: 8080 }]
    - backendRefs: [{ name: v2, port: 8080 }]
`);
  assert.deepEqual(route(v, "httproute/infra/r/rule/0/match/0").match, { path: { kind: "Exact", value: "/exact" }, headers: [], queryParams: [] });
  assert.deepEqual(route(v, "httproute/infra/r/rule/0/match/1").match, {
    path: { kind: "PathPrefix", value: "/prefix" },
    headers: [
      { name: "x-env", kind: "Exact", value: "canary" },
      { name: "x-id", kind: "RegularExpression", value: "[0-9]+" },
    ],
    queryParams: [
      { name: "q", kind: "Exact", value: "1" },
      { name: "Q", kind: "Exact", value: "2" },
    ],
    method: "POST",
  });
  assert.deepEqual(route(v, "httproute/infra/r/rule/0/match/2").match.path, { kind: "RegularExpression", value: "/re/[a-z]+" });
  const fallback = route(v, "httproute/infra/r/rule/1/match/0");
  assert.deepEqual(fallback.match, { path: { kind: "PathPrefix", value: "/" }, headers: [], queryParams: [] });
  assert.deepEqual(fallback.source, { kind: "HTTPRoute", namespace: "infra", name: "r", rule: 1 });
  assert.deepEqual(fallback.action, { kind: "forward", backends: [{ cluster: V2, weight: 1 }] });
});

test("weights: 0 gets nothing, an invalid backendRef keeps its share without a cluster", () => {
  const { s, v } = routesOf(
    `    - backendRefs:
        - { name: v1, port: 8080, weight: 3 }
        - { name: v2, port: 8080, weight: 0 }
        - { name: missing, port: 8080, weight: 1 }
`,
    ["MG_BACKEND_NOT_FOUND"],
  );
  const r = v.routes[0]!;
  assert.deepEqual(r.action, { kind: "forward", backends: [{ cluster: V1, weight: 3 }, { weight: 1 }] });
  assert.deepEqual(s.proxies.find((p) => p.role === "gateway")!.clusters, [V1], "a weight-0 backend's cluster is not used");
});

test("all backendRefs invalid, all weights 0, or none at all: a direct 500", () => {
  const { v } = routesOf(
    `    - matches: [{ path: { type: Exact, value: /invalid } }]
      backendRefs: [{ name: missing, port: 8080 }, { name: v1, port: 9999 }]
    - matches: [{ path: { type: Exact, value: /zero } }]
      backendRefs: [{ name: v1, port: 8080, weight: 0 }]
    - matches: [{ path: { type: Exact, value: /none } }]
`,
    ["MG_BACKEND_NOT_FOUND", "MG_BACKEND_NOT_FOUND"],
  );
  for (const rule of [0, 1, 2]) assert.deepEqual(route(v, `httproute/infra/r/rule/${rule}/match/0`).action, { kind: "direct", status: 500 });
});

test("header modifiers on the rule and on a backendRef", () => {
  const { v } = routesOf(`    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Set, value: a }], add: [{ name: x-add, value: b }], remove: [X-Gone] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-resp, value: c }] }
      backendRefs:
        - name: v1
          port: 8080
          weight: 1
          filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-backend, value: v1 }] } }]
        - name: v2
          port: 8080
          weight: 1
          filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { remove: [Server] } }]
`);
  const r = v.routes[0]!;
  assert.deepEqual(r.requestHeaders, { set: [{ name: "x-set", value: "a" }], add: [{ name: "x-add", value: "b" }], remove: ["x-gone"] });
  assert.deepEqual(r.responseHeaders, { set: [], add: [{ name: "x-resp", value: "c" }], remove: [] });
  assert.deepEqual(r.action.kind === "forward" && r.action.backends, [
    { cluster: V1, weight: 1, requestHeaders: { set: [{ name: "x-backend", value: "v1" }], add: [], remove: [] } },
    { cluster: V2, weight: 1, responseHeaders: { set: [], add: [], remove: ["server"] } },
  ]);
});

test("RequestRedirect: scheme, hostname, path, status; the port follows the spec's defaults", () => {
  const redirect = (path: string, spec: string) => `    - matches: [{ path: { type: PathPrefix, value: ${path} } }]
      filters: [{ type: RequestRedirect, requestRedirect: ${spec} }]
`;
  const { v } = routesOf(
    redirect("/https", "{ scheme: https }") +
      redirect("/http", "{ scheme: http, statusCode: 301 }") +
      redirect("/port", "{ port: 8443 }") +
      redirect("/none", "{ hostname: example.org }") +
      redirect("/full", "{ path: { type: ReplaceFullPath, replaceFullPath: /new } }") +
      redirect("/prefix", "{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /p2 } }"),
  );
  const action = (rule: number) => route(v, `httproute/infra/r/rule/${rule}/match/0`).action;
  assert.deepEqual(action(0), { kind: "redirect", scheme: "https", port: 443, statusCode: 302 });
  assert.deepEqual(action(1), { kind: "redirect", scheme: "http", port: 80, statusCode: 301 });
  assert.deepEqual(action(2), { kind: "redirect", port: 8443, statusCode: 302 });
  // No scheme and no port: the listener's port (80 here).
  assert.deepEqual(action(3), { kind: "redirect", hostname: "example.org", port: 80, statusCode: 302 });
  assert.deepEqual(action(4), { kind: "redirect", port: 80, path: { kind: "ReplaceFullPath", value: "/new" }, statusCode: 302 });
  assert.deepEqual(action(5), { kind: "redirect", port: 80, path: { kind: "ReplacePrefixMatch", prefix: "/prefix", value: "/p2" }, statusCode: 302 });
});

test("a redirect without scheme or port on a listener on port 8080 redirects to 8080", () => {
  const gw = HTTP_GW.replace("port: 80,", "port: 8080,");
  const s = irOf(gw + backends + httpRoute("r", `    - filters: [{ type: RequestRedirect, requestRedirect: { hostname: a.example } }]
`));
  assert.deepEqual(vhost(table(s, "gateway|infra|gw|8080"), "*:8080").routes[0]!.action, { kind: "redirect", hostname: "a.example", port: 8080, statusCode: 302 });
});

test("URLRewrite: hostname, ReplaceFullPath, ReplacePrefixMatch", () => {
  const { v } = routesOf(`    - matches: [{ path: { type: PathPrefix, value: /api/v1 } }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: internal.example, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v1 } } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: Exact, value: /old } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /new } } }]
      backendRefs: [{ name: v1, port: 8080 }]
`);
  assert.deepEqual(route(v, "httproute/infra/r/rule/0/match/0").action, {
    kind: "forward",
    backends: [{ cluster: V1, weight: 1 }],
    pathRewrite: { kind: "ReplacePrefixMatch", prefix: "/api/v1", value: "/v1" },
    hostRewrite: "internal.example",
  });
  assert.deepEqual(route(v, "httproute/infra/r/rule/1/match/0").action, { kind: "forward", backends: [{ cluster: V1, weight: 1 }], pathRewrite: { kind: "ReplaceFullPath", value: "/new" } });
});

test("RequestMirror: every mirror with its percentage (percent or fraction)", () => {
  const { s, v } = routesOf(`    - filters:
        - { type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 8080 } } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 8080 }, percent: 25 } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 8080 }, fraction: { numerator: 1, denominator: 8 } } }
      backendRefs: [{ name: v1, port: 8080 }]
`);
  const a = v.routes[0]!.action;
  assert.equal(a.kind, "forward");
  assert.deepEqual(a.kind === "forward" && a.mirrors, [{ cluster: V2 }, { cluster: V2, percent: 25 }, { cluster: V2, percent: 12.5 }]);
  assert.deepEqual(s.proxies.find((p) => p.role === "gateway")!.clusters, [V1, V2], "mirror clusters are part of the proxy's clusters");
});

test("timeouts and retry", () => {
  const { v } = routesOf(`    - timeouts: { request: 10s, backendRequest: 1500ms }
      retry: { attempts: 3, codes: [500, 503], backoff: 100ms }
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: Exact, value: /conn } }]
      retry: { attempts: 2 }
      backendRefs: [{ name: v1, port: 8080 }]
`);
  assert.deepEqual(route(v, "httproute/infra/r/rule/0/match/0").action, {
    kind: "forward",
    backends: [{ cluster: V1, weight: 1 }],
    timeoutMs: 10000,
    perTryTimeoutMs: 1500,
    retry: { attempts: 3, on: ["retriable-status-codes", "connect-failure", "refused-stream", "reset"], statusCodes: [500, 503], backoff: { baseMs: 100, maxMs: 1000 } },
  });
  const conn = route(v, "httproute/infra/r/rule/1/match/0").action;
  assert.deepEqual(conn.kind === "forward" && conn.retry, { attempts: 2, on: ["connect-failure", "refused-stream", "reset"] });
});

test("a redirect or rewrite on the only backendRef applies to the rule; on one of several, that share gets 500", () => {
  const { v } = routesOf(`    - matches: [{ path: { type: PathPrefix, value: /full } }]
      backendRefs:
        - name: v1
          port: 8080
          filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /redirected } } }]
    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs:
        - name: v1
          port: 8080
          filters: [{ type: URLRewrite, urlRewrite: { hostname: x.example } }]
        - { name: v2, port: 8080 }
`);
  assert.deepEqual(route(v, "httproute/infra/r/rule/0/match/0").action, { kind: "redirect", port: 80, path: { kind: "ReplaceFullPath", value: "/redirected" }, statusCode: 302 });
  const split = route(v, "httproute/infra/r/rule/1/match/0").action;
  assert.deepEqual(split.kind === "forward" && split.backends, [{ weight: 1 }, { cluster: V2, weight: 1 }]);
});

test("filters that cannot be honoured answer 500 instead of being skipped", () => {
  const { v } = routesOf(
    `    - filters: [{ type: ExtensionRef, extensionRef: { group: example.com, kind: Auth, name: a } }]
      backendRefs: [{ name: v1, port: 8080 }]
`,
    ["MG_UNSUPPORTED"],
  );
  assert.deepEqual(v.routes[0]!.action, { kind: "direct", status: 500 });
});
