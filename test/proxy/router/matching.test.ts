// Route matching end to end: Gateway API configuration -> translator -> Envoy resources
// -> the proxy's router, for each kind of match, precedence and listener hostnames.

import { test } from "node:test";
import assert from "node:assert/strict";
import { gateway, HTTP_GW, httpRoute, service } from "../../translate/helpers.js";
import { req, rn, routeName, tableOf } from "./helpers.js";

const backends = service("infra", "v1") + service("infra", "v2", 8080, ["10.0.0.2"]);

test("path matches: Exact, PathPrefix (segment-aware, trailing slash ignored), RegularExpression (full match), / catches the rest", () => {
  const t = tableOf(
    HTTP_GW +
      backends +
      httpRoute(
        "paths",
        `    - matches: [{ path: { type: Exact, value: /exact } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /foo } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /bar/ } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: RegularExpression, value: "/re/[a-z]+" } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: v2, port: 8080 }]
`,
      ),
  );
  const cases: [string, string][] = [
    ["/exact", rn("paths", 0)],
    ["/exact?x=1", rn("paths", 0)],
    ["/exact/", rn("paths", 4)],
    ["/exactly", rn("paths", 4)],
    ["/EXACT", rn("paths", 4)],
    ["/foo", rn("paths", 1)],
    ["/foo/", rn("paths", 1)],
    ["/foo/bar", rn("paths", 1)],
    ["/foo?q=1", rn("paths", 1)],
    ["/foobar", rn("paths", 4)],
    ["/bar", rn("paths", 2)],
    ["/bar/baz", rn("paths", 2)],
    ["/barn", rn("paths", 4)],
    ["/re/abc", rn("paths", 3)],
    ["/re/abc?x=1", rn("paths", 3)],
    ["/re/abc/", rn("paths", 4)],
    ["/re/ABC", rn("paths", 4)],
    ["/pre/re/abc", rn("paths", 4)],
    ["/", rn("paths", 4)],
    ["/anything/else", rn("paths", 4)],
  ];
  assert.deepEqual(
    cases.map(([p]) => [p, routeName(t, p)]),
    cases,
  );
});

test("no matching route, or no virtual host for the authority: undefined (the caller answers 404)", () => {
  const t = tableOf(HTTP_GW + backends + httpRoute("only", `    - matches: [{ path: { type: PathPrefix, value: /api } }]\n      backendRefs: [{ name: v1, port: 8080 }]\n`, { hostnames: ["api.example.com"] }));
  assert.equal(routeName(t, "/api/x", { host: "api.example.com" }), rn("only", 0));
  assert.equal(t.route(req("/other", { host: "api.example.com" })), undefined);
  assert.equal(t.route(req("/api/x", { host: "www.example.com" })), undefined);
});

test("headers, query parameters and method: every condition of a match must hold; header names case-insensitive, values exact or regex (full match)", () => {
  const t = tableOf(
    HTTP_GW +
      backends +
      httpRoute(
        "m",
        `    - matches:
        - path: { type: PathPrefix, value: /search }
          headers: [{ name: X-Env, value: canary }, { type: RegularExpression, name: x-id, value: "[0-9a-f]{4}" }]
          queryParams: [{ name: q, value: books }, { type: RegularExpression, name: page, value: "[0-9]+" }]
          method: POST
        - method: DELETE
      backendRefs: [{ name: v1, port: 8080 }]
    - backendRefs: [{ name: v2, port: 8080 }]
`,
      ),
  );
  const full = { method: "POST", headers: { "x-env": "canary", "x-id": "beef" } };
  assert.equal(routeName(t, "/search?q=books&page=2", full), rn("m", 0, 0));
  assert.equal(routeName(t, "/search/more?page=12&q=books", full), rn("m", 0, 0), "query order does not matter");
  assert.equal(routeName(t, "/search?q=books&page=2&q=films", full), rn("m", 0, 0), "the first value of a repeated parameter counts");
  assert.equal(routeName(t, "/search?q=b%6foks&page=2", full), rn("m", 0, 0), "values are percent-decoded");
  assert.equal(routeName(t, "/search?q=books&page=2", { ...full, method: "GET" }), rn("m", 1, 0), "method");
  assert.equal(routeName(t, "/search?q=books&page=x2", full), rn("m", 1, 0), "regex is a full match");
  assert.equal(routeName(t, "/search?q=Books&page=2", full), rn("m", 1, 0), "query values are case-sensitive");
  assert.equal(routeName(t, "/search?page=2", full), rn("m", 1, 0), "missing query parameter");
  assert.equal(routeName(t, "/search?Q=books&page=2", full), rn("m", 1, 0), "query names are case-sensitive");
  assert.equal(routeName(t, "/search?q=books&page=2", { ...full, headers: { "x-env": "canary", "x-id": "beefy" } }), rn("m", 1, 0), "header regex is a full match");
  assert.equal(routeName(t, "/search?q=books&page=2", { ...full, headers: { "x-id": "beef" } }), rn("m", 1, 0), "missing header");
  assert.equal(routeName(t, "/search?q=books&page=2", { ...full, headers: { "x-env": "Canary", "x-id": "beef" } }), rn("m", 1, 0), "header values are case-sensitive");
  assert.equal(routeName(t, "/anything", { method: "DELETE" }), rn("m", 0, 1));
  assert.equal(routeName(t, "/anything", { method: "delete" }), rn("m", 1, 0), "methods are case-sensitive");
});

test("precedence across routes follows the Gateway API: Exact > longest prefix > method > most headers > most query params > oldest route > namespace/name", () => {
  const t = tableOf(
    HTTP_GW +
      backends +
      httpRoute(
        "young",
        `    - matches:
        - path: { type: PathPrefix, value: /shop }
        - path: { type: PathPrefix, value: /shop }
          headers: [{ name: x-a, value: "1" }]
        - path: { type: PathPrefix, value: /shop }
          headers: [{ name: x-a, value: "1" }, { name: x-b, value: "1" }]
        - path: { type: PathPrefix, value: /shop }
          queryParams: [{ name: q, value: "1" }]
        - path: { type: PathPrefix, value: /shop }
          method: GET
        - path: { type: PathPrefix, value: /shop }
          method: GET
          headers: [{ name: x-a, value: "1" }]
      backendRefs: [{ name: v1, port: 8080 }]
`,
        { created: "2024-02-01T00:00:00Z" },
      ) +
      httpRoute(
        "old",
        `    - matches: [{ path: { type: PathPrefix, value: /shop } }]
      backendRefs: [{ name: v2, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /shop/cart } }]
      backendRefs: [{ name: v2, port: 8080 }]
`,
        { created: "2024-01-01T00:00:00Z" },
      ) +
      httpRoute("b-untimed", `    - matches: [{ path: { type: Exact, value: /shop } }]\n      backendRefs: [{ name: v2, port: 8080 }]\n    - matches: [{ path: { type: PathPrefix, value: /shop/cart/items } }]\n      backendRefs: [{ name: v2, port: 8080 }]\n`) +
      httpRoute("a-untimed", `    - matches: [{ path: { type: PathPrefix, value: /shop/cart/items } }]\n      backendRefs: [{ name: v1, port: 8080 }]\n`),
  );
  const h = (headers: Record<string, string>, method = "POST") => ({ headers, method });
  assert.equal(routeName(t, "/shop", h({ "x-a": "1" }, "GET")), rn("b-untimed", 0), "Exact beats every prefix");
  assert.equal(routeName(t, "/shop/cart", h({ "x-a": "1" }, "GET")), rn("old", 1), "the longer prefix beats method and headers");
  assert.equal(routeName(t, "/shop/cart/items/1"), rn("a-untimed", 0), "equal matches of untimed routes: alphabetical namespace/name");
  assert.equal(routeName(t, "/shop/x", h({ "x-a": "1" }, "GET")), rn("young", 0, 5), "method + header beats method");
  assert.equal(routeName(t, "/shop/x", h({}, "GET")), rn("young", 0, 4), "method beats headers");
  assert.equal(routeName(t, "/shop/x?q=1", h({ "x-a": "1", "x-b": "1" })), rn("young", 0, 2), "more headers win");
  assert.equal(routeName(t, "/shop/x?q=1", h({ "x-a": "1" })), rn("young", 0, 1), "headers beat query parameters");
  assert.equal(routeName(t, "/shop/x?q=1", h({})), rn("young", 0, 3), "query parameters beat nothing");
  assert.equal(routeName(t, "/shop/x", h({})), rn("old", 0), "equal matches: the oldest route wins");
});

test("precedence: within one route, rule order then match order breaks ties; Exact beats RegularExpression beats PathPrefix", () => {
  const t = tableOf(
    HTTP_GW +
      backends +
      httpRoute(
        "r",
        `    - matches: [{ path: { type: PathPrefix, value: /a } }, { path: { type: PathPrefix, value: /a } , headers: [{ name: x, value: "1" }] }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: RegularExpression, value: "/a/.*" } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: Exact, value: /a/b } }]
      backendRefs: [{ name: v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /a } }]
      backendRefs: [{ name: v2, port: 8080 }]
`,
      ),
  );
  assert.equal(routeName(t, "/a/b"), rn("r", 2), "Exact first");
  assert.equal(routeName(t, "/a/c"), rn("r", 1), "then RegularExpression");
  assert.equal(routeName(t, "/a"), rn("r", 0, 0), "earlier rule wins among equal prefixes");
  assert.equal(routeName(t, "/a", { headers: { x: "1" } }), rn("r", 0, 1), "a header condition outranks a bare prefix");
});

test("listener hostnames and route hostnames: exact beats wildcard, the longest wildcard wins, port in the authority, case-insensitive, * for the rest", () => {
  const t = tableOf(
    gateway(`    - { name: exact, port: 8080, protocol: HTTP, hostname: shop.example.com }
    - { name: wildcard, port: 8080, protocol: HTTP, hostname: "*.example.com" }
    - { name: any, port: 8080, protocol: HTTP }
`) +
      service("infra", "app") +
      httpRoute("no-hostname", `    - backendRefs: [{ name: app, port: 8080 }]\n`, { parent: "{ name: gw, port: 8080 }" }) +
      httpRoute("blog", `    - matches: [{ path: { type: PathPrefix, value: /blog } }]\n      backendRefs: [{ name: app, port: 8080 }]\n`, {
        parent: "{ name: gw, sectionName: wildcard }",
        hostnames: ["blog.example.com", "*.docs.example.com"],
      }),
    { table: "gateway|infra|gw|8080" },
  );
  const vh = (host: string, path = "/blog/1") => t.route(req(path, { host }))?.virtualHostName ?? "404";
  assert.equal(vh("shop.example.com"), "shop.example.com:8080");
  assert.equal(vh("SHOP.Example.COM:8080"), "shop.example.com:8080");
  assert.equal(vh("blog.example.com"), "blog.example.com:8080");
  assert.equal(routeName(t, "/blog/1", { host: "blog.example.com" }), rn("blog", 0));
  assert.equal(routeName(t, "/other", { host: "blog.example.com" }), rn("no-hostname", 0));
  assert.equal(vh("a.docs.example.com"), "*.docs.example.com:8080");
  assert.equal(vh("a.b.docs.example.com:8080"), "*.docs.example.com:8080");
  assert.equal(routeName(t, "/blog/1", { host: "x.docs.example.com" }), rn("blog", 0));
  assert.equal(vh("docs.example.com"), "*.example.com:8080", "the wildcard needs at least one more label");
  assert.equal(routeName(t, "/blog/1", { host: "other.example.com" }), rn("no-hostname", 0), "the blog route is not attached to other hosts");
  assert.equal(vh("example.com"), "*:8080");
  assert.equal(vh("elsewhere.org:8080"), "*:8080");
  assert.equal(vh("10.0.0.1:8080"), "*:8080");
});

test("GRPCRoute: exact service/method, service only, method only, regex service and method with a header; HTTP routes still answer the rest", () => {
  const t = tableOf(
    gateway(`    - { name: http, port: 8080, protocol: HTTP }
`) +
      service("infra", "grpc", 9000) +
      service("infra", "web") +
      `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: store, namespace: infra }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches:
        - method: { service: store.v1.Store, method: GetItem }
        - method: { service: store.v1.Admin }
        - method: { method: Health }
        - method: { type: RegularExpression, service: "store\\\\.v[0-9]+\\\\.Search", method: "Find.*" }
          headers: [{ name: x-tenant, value: acme }]
      backendRefs: [{ name: grpc, port: 9000 }]
` +
      httpRoute("web", `    - backendRefs: [{ name: web, port: 8080 }]\n`, { parent: "{ name: gw }" }),
    { table: "gateway|infra|gw|8080" },
  );
  const grpc = (path: string, headers: Record<string, string> = {}) => routeName(t, path, { method: "POST", headers: { "content-type": "application/grpc", ...headers } });
  const g = (m: number) => rn("store", 0, m, "grpcroute");
  assert.equal(grpc("/store.v1.Store/GetItem"), g(0));
  assert.equal(grpc("/store.v1.Store/ListItems"), rn("web", 0));
  assert.equal(grpc("/store.v1.Admin/Anything"), g(1));
  assert.equal(grpc("/store.v1.AdminX/Anything"), rn("web", 0));
  assert.equal(grpc("/any.Service/Health"), g(2));
  assert.equal(grpc("/any.Service/HealthCheck"), rn("web", 0));
  assert.equal(grpc("/store.v2.Search/FindAll", { "x-tenant": "acme" }), g(3));
  assert.equal(grpc("/store.v2.Search/FindAll"), rn("web", 0), "header required");
  assert.equal(grpc("/storeXv2.Search/FindAll", { "x-tenant": "acme" }), rn("web", 0), "escaped dot is literal");
  const d = t.route(req("/store.v1.Store/GetItem", { method: "POST" }));
  assert.equal(d?.kind === "forward" && d.clusters.pick().name, "outbound|9000||grpc.infra.svc.cluster.local|h2");
});

test("service route tables (as proxyless clients and sidecars get them): service virtual hosts by short and long names, with and without the port", () => {
  const t = tableOf(service("infra", "app"), { node: "*", table: "app.infra.svc.cluster.local:8080" });
  for (const host of ["app", "app:8080", "app.infra", "app.infra.svc.cluster.local:8080", "APP.INFRA.SVC"]) {
    assert.equal(routeName(t, "/x", { host }), "service/infra/app/8080", host);
  }
  // Tried as given, then without the port: an authority whose port no domain lists still
  // finds its host (Envoy proper would not; the translator lists both forms anyway).
  assert.equal(routeName(t, "/x", { host: "app:9090" }), "service/infra/app/8080");
  assert.equal(routeName(t, "/x", { host: "other" }), "404");
});
