// Route actions end to end (Gateway API filters and backendRefs -> translator -> Envoy
// resources -> router decision): redirects, rewrites, header modifiers, mirrors,
// weights, invalid backends, timeouts and retries.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { HeaderMap } from "../../../src/proxy/contracts.js";
import { applyHeaderMutations, rewritePath } from "../../../src/proxy/router/route-table.js";
import { gateway, httpRoute, service } from "../../translate/helpers.js";
import { forward, req, rn, seeded, tableOf } from "./helpers.js";

const GW_8080 = gateway(`    - { name: http, port: 8080, protocol: HTTP }
`);
const TABLE = { table: "gateway|infra|gw|8080" };
const APP = "outbound|8080||app.infra.svc.cluster.local";
const A = "outbound|8080||a.infra.svc.cluster.local";
const B = "outbound|8080||b.infra.svc.cluster.local";

function location(t: ReturnType<typeof tableOf>, path: string, o: Parameters<typeof req>[1] = {}): string {
  const d = t.route(req(path, { host: "example.com:8080", ...o }));
  assert.ok(d && d.kind === "redirect", `expected a redirect for ${path}, got ${d?.kind}`);
  return `${d.status} ${d.location}`;
}

test("RequestRedirect: scheme (default port elided), hostname (listener port kept), port, ReplaceFullPath, ReplacePrefixMatch, status codes; query kept", () => {
  const t = tableOf(
    GW_8080 +
      httpRoute(
        "redirects",
        `    - matches: [{ path: { type: PathPrefix, value: /secure } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 301 } }]
    - matches: [{ path: { type: PathPrefix, value: /moved } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: new.example.com } }]
    - matches: [{ path: { type: PathPrefix, value: /port } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: http, port: 8443, statusCode: 302 } }]
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /new } } }]
    - matches: [{ path: { type: PathPrefix, value: /v1 } }]
      filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }]
    - matches: [{ path: { type: PathPrefix, value: /root } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
    - matches: [{ path: { type: PathPrefix, value: /tls-port } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, port: 8443 } }]
    - matches: [{ path: { type: PathPrefix, value: /to-80 } }]
      filters: [{ type: RequestRedirect, requestRedirect: { port: 80, hostname: plain.example.com } }]
    - matches: [{ path: { type: PathPrefix, value: /s303 } }]
      filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 303 } }]
    - matches: [{ path: { type: PathPrefix, value: /s307 } }]
      filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 307 } }]
    - matches: [{ path: { type: PathPrefix, value: /s308 } }]
      filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 308 } }]
`,
      ),
    TABLE,
  );
  assert.equal(location(t, "/secure/x?a=1"), "301 https://example.com/secure/x?a=1");
  assert.equal(location(t, "/moved/y"), "302 http://new.example.com:8080/moved/y");
  assert.equal(location(t, "/moved/y", { host: "example.com" }), "302 http://new.example.com:8080/moved/y", "the listener port is the spec's default");
  assert.equal(location(t, "/port"), "302 http://example.com:8443/port");
  assert.equal(location(t, "/old/z?q=1"), "302 http://example.com:8080/new?q=1");
  assert.equal(location(t, "/v1/x/y"), "301 http://example.com:8080/v2/x/y");
  assert.equal(location(t, "/v1"), "301 http://example.com:8080/v2");
  assert.equal(location(t, "/root/a/b?c"), "302 http://example.com:8080/a/b?c");
  assert.equal(location(t, "/root"), "302 http://example.com:8080/");
  assert.equal(location(t, "/root/"), "302 http://example.com:8080/");
  assert.equal(location(t, "/tls-port"), "302 https://example.com:8443/tls-port");
  assert.equal(location(t, "/to-80"), "302 http://plain.example.com/to-80");
  assert.equal(location(t, "/s303"), "303 http://example.com:8080/s303");
  assert.equal(location(t, "/s307"), "307 http://example.com:8080/s307");
  assert.equal(location(t, "/s308"), "308 http://example.com:8080/s308");
});

test("URLRewrite: ReplaceFullPath (query kept), ReplacePrefixMatch, hostname", () => {
  const t = tableOf(
    GW_8080 +
      service("infra", "app") +
      httpRoute(
        "rewrites",
        `    - matches: [{ path: { type: Exact, value: /full } }, { path: { type: PathPrefix, value: /full-prefix } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /replaced } } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /api/v1 } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /host } }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: internal.example.com } }]
      backendRefs: [{ name: app, port: 8080 }]
`,
      ),
    TABLE,
  );
  const rewritten = (path: string) => {
    const d = forward(t.route(req(path)));
    return rewritePath(d, req(path));
  };
  assert.equal(rewritten("/full"), "/replaced");
  assert.equal(rewritten("/full?x=1&y=2"), "/replaced?x=1&y=2");
  assert.equal(rewritten("/full-prefix/a/b"), "/replaced");
  assert.equal(rewritten("/api/v1"), "/v2");
  assert.equal(rewritten("/api/v1/"), "/v2/");
  assert.equal(rewritten("/api/v1/users?id=7"), "/v2/users?id=7");
  assert.equal(rewritten("/host/a?b"), "/host/a?b", "no path rewrite: unchanged");
  const host = forward(t.route(req("/host/a")));
  assert.deepEqual(host.hostRewrite, { kind: "literal", value: "internal.example.com" });
  assert.deepEqual(host.clusters.pick().hostRewrite, { kind: "literal", value: "internal.example.com" });
  assert.equal(forward(t.route(req("/api/v1"))).hostRewrite, undefined);
});

test("URLRewrite ReplacePrefixMatch: every trailing-slash combination of the Gateway API's table", () => {
  // [matched prefix, replacement, request path, upstream path]
  const cases: [string, string, string, string][] = [
    ["/foo", "/xyz", "/foo/bar", "/xyz/bar"],
    ["/foo", "/xyz/", "/foo/bar", "/xyz/bar"],
    ["/foo/", "/xyz", "/foo/bar", "/xyz/bar"],
    ["/foo/", "/xyz/", "/foo/bar", "/xyz/bar"],
    ["/foo", "/xyz", "/foo", "/xyz"],
    ["/foo/", "/xyz", "/foo", "/xyz"],
    ["/foo", "/xyz", "/foo/", "/xyz/"],
    ["/foo", "/xyz/", "/foo/", "/xyz/"],
    ["/foo/", "/xyz", "/foo/", "/xyz/"],
    ["/foo/", "/xyz/", "/foo/", "/xyz/"],
    ["/foo", "/", "/foo", "/"],
    ["/foo", "/", "/foo/", "/"],
    ["/foo/", "/", "/foo/bar", "/bar"],
    ["/foo", "/", "/foo/bar/baz?q=1", "/bar/baz?q=1"],
    ["/", "/xyz", "/bar", "/xyz/bar"],
    ["/", "/xyz/", "/", "/xyz/"],
  ];
  // One route per case, told apart by hostname.
  const routes = cases
    .map(([prefix, value], i) =>
      httpRoute(
        `case-${i}`,
        `    - matches: [{ path: { type: PathPrefix, value: "${prefix}" } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: "${value}" } } }]
      backendRefs: [{ name: app, port: 8080 }]
`,
        { hostnames: [`case-${i}.example.com`] },
      ),
    )
    .join("");
  const t = tableOf(GW_8080 + service("infra", "app") + routes, TABLE);
  const got = cases.map(([prefix, value, path], i) => {
    const input = req(path, { host: `case-${i}.example.com` });
    return [prefix, value, path, rewritePath(forward(t.route(input)), input)];
  });
  assert.deepEqual(got, cases);
});

test("RequestHeaderModifier: set / add / remove on the rule, set on one backendRef (in what that backend's pick returns)", () => {
  const t = tableOf(
    GW_8080 +
      service("infra", "a") +
      service("infra", "b", 8080, ["10.0.0.2"]) +
      httpRoute(
        "headers",
        `    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: X-Tenant, value: shop }]
            add: [{ name: X-Trace, value: gw }]
            remove: [X-Internal, Cookie]
      backendRefs:
        - { name: a, port: 8080, weight: 1 }
        - name: b
          port: 8080
          weight: 1
          filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Backend, value: b }] } }]
`,
      ),
    TABLE,
  );
  const d = forward(t.route(req("/")));
  const incoming = (): HeaderMap => ({ "x-tenant": "other", "x-trace": "client", "x-internal": "secret", cookie: "c=1", accept: "*/*", "x-backend": "forged" });
  const viaRoute = incoming();
  applyHeaderMutations(d.requestHeaders, viaRoute);
  assert.deepEqual(viaRoute, { "x-tenant": "shop", "x-trace": ["client", "gw"], accept: "*/*", "x-backend": "forged" });
  const [a, b] = d.clusters.targets;
  assert.equal(a!.name, A);
  assert.equal(b!.name, B);
  assert.equal(a!.requestHeaders, d.requestHeaders, "a backend without filters uses the route's list");
  const viaB = incoming();
  applyHeaderMutations(b!.requestHeaders, viaB);
  assert.deepEqual(viaB, { "x-tenant": "shop", "x-trace": ["client", "gw"], accept: "*/*", "x-backend": "b" });
  const absent: HeaderMap = {};
  applyHeaderMutations(d.requestHeaders, absent);
  assert.deepEqual(absent, { "x-tenant": "shop", "x-trace": "gw" });
});

test("ResponseHeaderModifier: set / add / remove on the rule, add on one backendRef", () => {
  const t = tableOf(
    GW_8080 +
      service("infra", "a") +
      service("infra", "b", 8080, ["10.0.0.2"]) +
      httpRoute(
        "headers",
        `    - filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{ name: Cache-Control, value: no-store }]
            add: [{ name: X-Served-By, value: meshgate }]
            remove: [Server]
      backendRefs:
        - { name: a, port: 8080, weight: 1 }
        - name: b
          port: 8080
          weight: 1
          filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: X-Backend, value: b }] } }]
`,
      ),
    TABLE,
  );
  const d = forward(t.route(req("/")));
  assert.deepEqual(d.requestHeaders.ops, []);
  const upstream = (): HeaderMap => ({ server: "nginx", "cache-control": "max-age=60", "x-served-by": "app", "x-backend": "real" });
  const fromA = upstream();
  applyHeaderMutations(d.clusters.targets[0]!.responseHeaders, fromA);
  assert.deepEqual(fromA, { "cache-control": "no-store", "x-served-by": ["app", "meshgate"], "x-backend": "real" });
  const fromB = upstream();
  applyHeaderMutations(d.clusters.targets[1]!.responseHeaders, fromB);
  assert.deepEqual(fromB, { "cache-control": "no-store", "x-served-by": ["app", "meshgate"], "x-backend": ["real", "b"] });
});

test("RequestMirror: every request, percent, fraction", () => {
  const t = tableOf(
    GW_8080 +
      service("infra", "app") +
      service("infra", "shadow", 8080, ["10.0.0.3"]) +
      httpRoute(
        "mirror",
        `    - matches: [{ path: { type: PathPrefix, value: /all } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 } } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /percent } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 }, percent: 25 } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /fraction } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 1, denominator: 3 } } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /none } }]
      backendRefs: [{ name: app, port: 8080 }]
`,
      ),
    TABLE,
  );
  const SHADOW = "outbound|8080||shadow.infra.svc.cluster.local";
  assert.deepEqual(forward(t.route(req("/all"))).mirrors, [{ cluster: SHADOW, fraction: 1, shadowHostSuffix: true }]);
  assert.deepEqual(forward(t.route(req("/percent"))).mirrors, [{ cluster: SHADOW, fraction: 0.25, shadowHostSuffix: true }]);
  assert.deepEqual(forward(t.route(req("/fraction"))).mirrors, [{ cluster: SHADOW, fraction: 0.333333, shadowHostSuffix: true }]);
  assert.deepEqual(forward(t.route(req("/none"))).mirrors, []);
});

const WEIGHTS = `    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs:
        - { name: a, port: 8080, weight: 80 }
        - { name: b, port: 8080, weight: 20 }
        - { name: b, port: 8080, weight: 0 }
    - matches: [{ path: { type: PathPrefix, value: /partly-invalid } }]
      backendRefs:
        - { name: a, port: 8080, weight: 3 }
        - { name: missing, port: 8080, weight: 1 }
    - matches: [{ path: { type: PathPrefix, value: /all-invalid } }]
      backendRefs:
        - { name: missing, port: 8080 }
        - { name: a, port: 9999 }
    - matches: [{ path: { type: PathPrefix, value: /all-zero } }]
      backendRefs:
        - { name: a, port: 8080, weight: 0 }
`;

function counts(pick: () => string, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const c = pick();
    out[c] = (out[c] ?? 0) + 1;
  }
  return out;
}

test("weighted backendRefs: picks follow the weights (seeded random), weight 0 is never picked, an invalid backend's share is answered 500", () => {
  const t = tableOf(GW_8080 + service("infra", "a") + service("infra", "b", 8080, ["10.0.0.2"]) + httpRoute("weights", WEIGHTS), { ...TABLE, errors: ["MG_BACKEND_NOT_FOUND"], random: seeded(42) });
  const split = forward(t.route(req("/split")));
  assert.equal(split.clusters.total, 100);
  const n = 20_000;
  const c = counts(() => split.clusters.pick().name, n);
  assert.deepEqual(Object.keys(c).sort(), [A, B]);
  assert.ok(Math.abs(c[A]! / n - 0.8) < 0.015, `a got ${c[A]} of ${n}`);
  assert.equal(split.clusterNotFoundStatus, 503, "Envoy's default");

  const partly = forward(t.route(req("/partly-invalid/x")));
  const p = counts(() => partly.clusters.pick().name, n);
  assert.ok(Math.abs(p["meshgate|invalid-backend"]! / n - 0.25) < 0.015, JSON.stringify(p));
  assert.equal(partly.clusterNotFoundStatus, 500, "the invalid backend's share is a 500 (that cluster never exists)");

  for (const path of ["/all-invalid", "/all-zero"]) {
    const d = t.route(req(path));
    assert.ok(d && d.kind === "direct", path);
    assert.equal(d.status, 500);
    assert.equal(d.body, undefined);
  }
});

test("the same seed gives the same picks", () => {
  const build = () => tableOf(GW_8080 + service("infra", "a") + service("infra", "b", 8080, ["10.0.0.2"]) + httpRoute("weights", WEIGHTS), { ...TABLE, errors: ["MG_BACKEND_NOT_FOUND"], random: seeded(7) });
  const seq = (t: ReturnType<typeof build>) => Array.from({ length: 50 }, () => forward(t.route(req("/split"))).clusters.pick().name);
  assert.deepEqual(seq(build()), seq(build()));
});

test("timeouts and retries: request / backendRequest timeouts, retry attempts, codes and backoff, defaults", () => {
  const t = tableOf(
    GW_8080 +
      service("infra", "app") +
      httpRoute(
        "resilience",
        `    - matches: [{ path: { type: PathPrefix, value: /timeouts } }]
      timeouts: { request: 10s, backendRequest: 2s }
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /request-timeout } }]
      timeouts: { request: 1500ms }
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /retry } }]
      retry: { attempts: 3, codes: [502, 503], backoff: 100ms }
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /retry-default } }]
      retry: {}
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /plain } }]
      backendRefs: [{ name: app, port: 8080 }]
`,
      ),
    TABLE,
  );
  const at = (p: string) => forward(t.route(req(p)));
  assert.equal(at("/timeouts").timeoutMs, 2000, "without retries the one try is the whole request");
  assert.equal(at("/timeouts").retry, undefined);
  assert.equal(at("/request-timeout").timeoutMs, 1500);
  assert.equal(at("/plain").timeoutMs, 15_000, "Envoy's default route timeout");
  assert.deepEqual(at("/retry").retry, {
    retryOn: ["retriable-status-codes", "connect-failure", "refused-stream", "reset"],
    numRetries: 3,
    retriableStatusCodes: [502, 503],
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
  });
  assert.deepEqual(at("/retry-default").retry, { retryOn: ["connect-failure", "refused-stream", "reset"], numRetries: 1, retriableStatusCodes: [], backoffBaseMs: 25, backoffMaxMs: 250 });
  assert.equal(at("/plain").clusters.pick().name, APP);
});

test("rate limits and per-route filter configs reach the decision (BackendTrafficPolicy)", async () => {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const yaml = readFileSync(join(import.meta.dirname, "../../golden/xds/backend-traffic-policy.in.yaml"), "utf8");
  const t = tableOf(yaml, { table: "gateway|infra|gw|8080" });
  const d = forward(t.route(req("/")));
  assert.equal(d.routeName, rn("web", 0));
  assert.ok(d.rateLimits && d.rateLimits.length > 0);
  assert.equal((d.rateLimits[0] as { stage?: { value?: number } }).stage?.value, 1);
  assert.equal(d.filterConfig?.["envoy.filters.http.local_ratelimit"]?.["@type"], "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit");
  assert.equal(d.clusters.pick().filterConfig, d.filterConfig);
});
