// Hand-written RouteConfigurations (decoded form, as the xDS client hands them over) for
// the shapes Envoy allows that the translator does not emit, and every golden route
// table the translator does emit.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { EnvoyResource, HeaderMap } from "../../../src/proxy/contracts.js";
import { applyHeaderMutations, compileRouteConfiguration, rewritePath, type RouteTable } from "../../../src/proxy/router/route-table.js";
import { forward, req, seeded, type RequestOptions } from "./helpers.js";

const to = (cluster: string) => ({ cluster });
const r = (name: string, match: EnvoyResource, extra: EnvoyResource = { route: to(name) }) => ({ name, match, ...extra });
const table = (virtualHosts: EnvoyResource[], extra: EnvoyResource = {}): RouteTable => compileRouteConfiguration({ name: "rc", virtualHosts, ...extra });
const vhost = (name: string, domains: string[], routes: EnvoyResource[], extra: EnvoyResource = {}) => ({ name, domains, routes, ...extra });
const name = (t: RouteTable, path: string, o: RequestOptions = {}) => t.route(req(path, o))?.routeName ?? "404";
const host = (t: RouteTable, authority: string) => t.route(req("/", { host: authority }))?.virtualHostName ?? "404";
const catchAll = [r("all", { prefix: "/" })];

test("virtual hosts: exact, longest suffix wildcard, longest prefix wildcard, *, each tried with the port and then without", () => {
  const t = table([
    vhost("exact", ["www.example.com", "API.example.com:8443"], catchAll),
    vhost("suffix", ["*.example.com"], catchAll),
    vhost("longer-suffix", ["*.eu.example.com"], catchAll),
    vhost("dash-suffix", ["*-admin.example.com"], catchAll),
    vhost("prefix", ["foo.*"], catchAll),
    vhost("longer-prefix", ["foo.bar.*"], catchAll),
    vhost("port-wildcard", ["*.internal:9000"], catchAll),
    vhost("ipv6", ["[::1]"], catchAll),
    vhost("default", ["*"], catchAll),
  ]);
  assert.equal(host(t, "www.example.com"), "exact");
  assert.equal(host(t, "WWW.Example.Com:8080"), "exact", "case-insensitive; port stripped when the full authority finds nothing");
  assert.equal(host(t, "api.example.com:8443"), "exact");
  assert.equal(host(t, "api.example.com"), "suffix", "a domain with a port does not serve the bare host");
  assert.equal(host(t, "a.example.com"), "suffix");
  assert.equal(host(t, "a.b.example.com"), "suffix");
  assert.equal(host(t, "a.eu.example.com"), "longer-suffix");
  assert.equal(host(t, "eu.example.com"), "suffix", "a wildcard does not match the empty string");
  assert.equal(host(t, "x-admin.example.com"), "dash-suffix", "longest suffix wins");
  assert.equal(host(t, "-admin.example.com"), "suffix");
  assert.equal(host(t, "foo.org"), "prefix");
  assert.equal(host(t, "foo.bar.org"), "longer-prefix");
  assert.equal(host(t, "foo."), "default");
  assert.equal(host(t, "x.example.com.foo"), "default", "suffix and prefix wildcards anchor their ends");
  assert.equal(host(t, "db.internal:9000"), "port-wildcard");
  assert.equal(host(t, "db.internal"), "default");
  assert.equal(host(t, "[::1]:8080"), "ipv6");
  assert.equal(host(t, "elsewhere"), "default");
  assert.equal(host(t, ""), "default");
  assert.equal(table([vhost("only", ["a.example"], catchAll)]).route(req("/", { host: "b.example" })), undefined, "no virtual host: undefined");
});

test("ignorePortInHostMatching: only the host without its port is looked up", () => {
  const t = table([vhost("a", ["a.example"], catchAll), vhost("a-port", ["a.example:81"], catchAll)], { ignorePortInHostMatching: true });
  assert.equal(host(t, "a.example:81"), "a");
  assert.equal(host(t, "a.example"), "a");
});

test("path specifiers: prefix is plain string prefix, empty prefix matches everything, caseSensitive false folds prefix/path/pathSeparatedPrefix but not regex", () => {
  const t = table([
    vhost("v", ["*"], [
      r("plain", { prefix: "/foo" }),
      r("ci-exact", { path: "/Exact", caseSensitive: { value: false } }),
      r("ci-sep", { pathSeparatedPrefix: "/Sep", caseSensitive: {} }),
      r("ci-regex", { safeRegex: { regex: "/Re[0-9]" }, caseSensitive: { value: false } }),
      r("empty", { prefix: "" }),
    ]),
  ]);
  assert.equal(name(t, "/foobar"), "plain");
  assert.equal(name(t, "/foo"), "plain");
  assert.equal(name(t, "/EXACT"), "ci-exact");
  assert.equal(name(t, "/exact?q"), "ci-exact");
  assert.equal(name(t, "/sep/x"), "ci-sep");
  assert.equal(name(t, "/SEP"), "ci-sep");
  assert.equal(name(t, "/sepx"), "empty");
  assert.equal(name(t, "/Re1"), "ci-regex");
  assert.equal(name(t, "/re1"), "empty", "caseSensitive does not apply to safeRegex");
  assert.equal(name(t, "*", { method: "OPTIONS" }), "empty");
});

test("header matchers: string matchers with ignoreCase, legacy forms, presence, inversion, ranges, missing-as-empty, pseudo-headers, repeated headers", () => {
  const h = (header: EnvoyResource) => r(JSON.stringify(header), { prefix: "/", headers: [header] });
  const check = (header: EnvoyResource, o: RequestOptions) => table([vhost("v", ["*"], [h(header)])]).route(req("/p?x=1", o)) !== undefined;
  const H = (headers: HeaderMap) => ({ headers });
  assert.equal(check({ name: "x-a", stringMatch: { prefix: "ab", ignoreCase: true } }, H({ "x-a": "ABc" })), true);
  assert.equal(check({ name: "x-a", stringMatch: { prefix: "ab" } }, H({ "x-a": "ABc" })), false);
  assert.equal(check({ name: "x-a", stringMatch: { suffix: "BC", ignoreCase: true } }, H({ "x-a": "abc" })), true);
  assert.equal(check({ name: "x-a", stringMatch: { contains: "b" } }, H({ "x-a": "abc" })), true);
  assert.equal(check({ name: "x-a", stringMatch: { exact: "ABC", ignoreCase: true } }, H({ "x-a": "abc" })), true);
  assert.equal(check({ name: "X-A", stringMatch: { exact: "" } }, H({ "x-a": "" })), true, "header names are case-insensitive");
  assert.equal(check({ name: "x-a", exactMatch: "v" }, H({ "x-a": "v" })), true);
  assert.equal(check({ name: "x-a", prefixMatch: "v" }, H({ "x-a": "vv" })), true);
  assert.equal(check({ name: "x-a", suffixMatch: "w" }, H({ "x-a": "vw" })), true);
  assert.equal(check({ name: "x-a", containsMatch: "w" }, H({ "x-a": "vwv" })), true);
  assert.equal(check({ name: "x-a", safeRegexMatch: { regex: "[a-z]+" } }, H({ "x-a": "abc1" })), false, "full match");
  assert.equal(check({ name: "x-a", presentMatch: true }, H({ "x-a": "" })), true);
  assert.equal(check({ name: "x-a", presentMatch: true }, H({})), false);
  assert.equal(check({ name: "x-a", presentMatch: false }, H({})), true, "present_match false: the header must be absent");
  assert.equal(check({ name: "x-a" }, H({ "x-a": "1" })), true, "a bare name means present");
  assert.equal(check({ name: "x-a", stringMatch: { exact: "1" }, invertMatch: true }, H({ "x-a": "2" })), true);
  assert.equal(check({ name: "x-a", stringMatch: { exact: "1" }, invertMatch: true }, H({ "x-a": "1" })), false);
  assert.equal(check({ name: "x-a", stringMatch: { exact: "1" }, invertMatch: true }, H({})), true, "an inverted match holds for a missing header");
  assert.equal(check({ name: "x-a", presentMatch: true, invertMatch: true }, H({})), true);
  assert.equal(check({ name: "x-a", stringMatch: { exact: "" }, treatMissingHeaderAsEmpty: true }, H({})), true);
  assert.equal(check({ name: "x-a", stringMatch: { exact: "" } }, H({})), false);
  assert.equal(check({ name: "x-n", rangeMatch: { start: 10, end: 20 } }, H({ "x-n": "19" })), true);
  assert.equal(check({ name: "x-n", rangeMatch: { start: 10, end: 20 } }, H({ "x-n": "20" })), false, "end is exclusive");
  assert.equal(check({ name: "x-n", rangeMatch: { start: -5, end: 20 } }, H({ "x-n": "-5" })), true);
  assert.equal(check({ name: "x-n", rangeMatch: { start: 10, end: 20 } }, H({ "x-n": "1x" })), false);
  assert.equal(check({ name: "x-m", stringMatch: { exact: "a,b" } }, H({ "x-m": ["a", "b"] })), true, "repeated headers match joined with a comma");
  assert.equal(check({ name: ":method", stringMatch: { exact: "PUT" } }, { method: "PUT" }), true);
  assert.equal(check({ name: ":authority", stringMatch: { suffix: ".org" } }, { host: "a.org" }), true);
  assert.equal(check({ name: "host", stringMatch: { suffix: ".org" } }, { host: "a.org" }), true, "host is :authority");
  assert.equal(check({ name: ":path", stringMatch: { exact: "/p?x=1" } }, {}), true, ":path includes the query");
  assert.equal(check({ name: ":scheme", stringMatch: { exact: "https" } }, { scheme: "https" }), true);
  assert.equal(check({ name: ":scheme", stringMatch: { exact: "https" } }, { scheme: "http" }), false);
});

test("query parameter matchers: presence (with or without a value), string matchers; the query is parsed only for routes that need it", () => {
  const t = table([
    vhost("v", ["*"], [
      r("flag", { prefix: "/", queryParameters: [{ name: "debug", presentMatch: true }] }),
      r("ci", { prefix: "/", queryParameters: [{ name: "mode", stringMatch: { exact: "FAST", ignoreCase: true } }] }),
      r("rest", { prefix: "/" }),
    ]),
  ]);
  assert.equal(name(t, "/?debug"), "flag");
  assert.equal(name(t, "/?a=1&debug=&b"), "flag");
  assert.equal(name(t, "/?debugx=1"), "rest");
  assert.equal(name(t, "/?mode=fast"), "ci");
  assert.equal(name(t, "/?mode=slow&mode=fast"), "rest", "first value");
  assert.equal(name(t, "/x"), "rest");
});

test("grpc match: content-type application/grpc (with +suffix or parameters) only", () => {
  const t = table([vhost("v", ["*"], [r("grpc", { prefix: "/", grpc: {} }), r("rest", { prefix: "/" })])]);
  const ct = (v: string) => name(t, "/svc/M", { headers: { "content-type": v } });
  assert.equal(ct("application/grpc"), "grpc");
  assert.equal(ct("application/grpc+proto"), "grpc");
  assert.equal(ct("application/grpc;charset=utf-8"), "grpc");
  assert.equal(ct("application/grpc-web"), "rest");
  assert.equal(ct("application/json"), "rest");
  assert.equal(name(t, "/svc/M"), "rest");
});

test("header mutations: route configuration, virtual host, route and weighted cluster levels in Envoy's order; mostSpecificHeaderMutationsWins reverses it", () => {
  const set = (key: string, value: string, appendAction = "OVERWRITE_IF_EXISTS_OR_ADD") => ({ header: { key, value }, appendAction });
  const levels = (mostSpecific: boolean) =>
    table(
      [
        vhost("v", ["*"], [
          {
            name: "r",
            match: { prefix: "/" },
            requestHeadersToAdd: [set("x-level", "route"), set("x-route", "1")],
            requestHeadersToRemove: ["x-remove-by-route"],
            route: { weightedClusters: { clusters: [{ name: "c", weight: { value: 1 }, requestHeadersToAdd: [set("x-level", "cluster"), set("x-cluster", "1")], responseHeadersToAdd: [set("x-resp", "cluster")] }] } },
          },
        ], { requestHeadersToAdd: [set("x-level", "vhost")], responseHeadersToAdd: [set("x-resp", "vhost")], requestHeadersToRemove: ["x-route"] }),
      ],
      { mostSpecificHeaderMutationsWins: mostSpecific, requestHeadersToAdd: [set("x-level", "table")], responseHeadersToAdd: [set("x-resp", "table")] },
    );
  const run = (mostSpecific: boolean) => {
    const d = forward(levels(mostSpecific).route(req("/")));
    const picked = d.clusters.pick();
    const request: HeaderMap = { "x-remove-by-route": "1" };
    applyHeaderMutations(picked.requestHeaders, request);
    const response: HeaderMap = {};
    applyHeaderMutations(picked.responseHeaders, response);
    return { request, response };
  };
  // Default: general levels apply last and win; the virtual host removes what the route added.
  assert.deepEqual(run(false), { request: { "x-level": "table", "x-cluster": "1" }, response: { "x-resp": "table" } });
  // Most specific wins: table first, cluster last; the virtual host's removal comes before the route adds.
  assert.deepEqual(run(true), { request: { "x-level": "cluster", "x-route": "1", "x-cluster": "1" }, response: { "x-resp": "cluster" } });
});

test("header value options: append actions, legacy append, empty values, rawValue, variables", () => {
  const t = table([
    vhost("v", ["*"], [
      {
        name: "r",
        match: { prefix: "/" },
        route: to("c"),
        requestHeadersToAdd: [
          { header: { key: "x-add-if-absent", value: "new" }, appendAction: "ADD_IF_ABSENT" },
          { header: { key: "x-absent", value: "new" }, appendAction: "ADD_IF_ABSENT" },
          { header: { key: "x-overwrite", value: "new" }, appendAction: "OVERWRITE_IF_EXISTS" },
          { header: { key: "x-not-there", value: "new" }, appendAction: "OVERWRITE_IF_EXISTS" },
          { header: { key: "x-legacy-set", value: "new" }, append: {} },
          { header: { key: "x-legacy-append", value: "new" }, append: { value: true } },
          { header: { key: "x-default", value: "new" } },
          { header: { key: "x-empty", value: "" } },
          { header: { key: "x-kept-empty", value: "" }, keepEmptyValue: true },
          { header: { key: "x-raw", rawValue: Buffer.from("bytes").toString("base64") } },
          { header: { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS% / %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% 100%% %PROTOCOL%" } },
          { header: { key: "x-local", value: "%DOWNSTREAM_LOCAL_ADDRESS%" } },
          { header: { key: "x-copy", value: "%REQ(X-Source)%" } },
        ],
      },
    ]),
  ]);
  const d = forward(t.route(req("/")));
  const h: HeaderMap = { "x-add-if-absent": "old", "x-overwrite": "old", "x-legacy-set": "old", "x-legacy-append": "old", "x-default": "old", "x-source": "src" };
  applyHeaderMutations(d.requestHeaders, h, { remoteAddress: "10.1.2.3", remotePort: 5555, localAddress: "::1", localPort: 8080, protocol: "HTTP/1.1", requestHeaders: h });
  assert.deepEqual(h, {
    "x-add-if-absent": "old",
    "x-absent": "new",
    "x-overwrite": "new",
    "x-legacy-set": "new",
    "x-legacy-append": ["old", "new"],
    "x-default": ["old", "new"],
    "x-kept-empty": "",
    "x-raw": "bytes",
    "x-client": "10.1.2.3:5555 / 10.1.2.3 100% HTTP/1.1",
    "x-local": "[::1]:8080",
    "x-copy": "src",
    "x-source": "src",
  });
});

test("typedPerFilterConfig: table < virtual host < route < weighted cluster, per filter; FilterConfig wrappers unwrapped", () => {
  const cfg = (v: string) => ({ "@type": "type.googleapis.com/x.Config", v });
  const t = table(
    [
      vhost("v", ["*"], [
        {
          name: "r",
          match: { prefix: "/" },
          typedPerFilterConfig: { b: cfg("route"), c: { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", config: cfg("wrapped"), isOptional: true } },
          route: { weightedClusters: { clusters: [{ name: "x", weight: { value: 1 }, typedPerFilterConfig: { c: cfg("cluster") } }, { name: "y", weight: { value: 1 } }] } },
        },
      ], { typedPerFilterConfig: { a: cfg("vhost"), b: cfg("vhost") } }),
    ],
    { typedPerFilterConfig: { a: cfg("table"), z: cfg("table") } },
  );
  const d = forward(t.route(req("/")));
  const values = (fc: Readonly<Record<string, EnvoyResource>> | undefined) => Object.fromEntries(Object.entries(fc ?? {}).map(([k, v]) => [k, v.v]));
  assert.deepEqual(values(d.filterConfig), { a: "vhost", z: "table", b: "route", c: "wrapped" });
  assert.deepEqual(values(d.clusters.targets[0]!.filterConfig), { a: "vhost", z: "table", b: "route", c: "cluster" });
  assert.equal(d.clusters.targets[1]!.filterConfig, d.filterConfig);
});

test("weighted clusters: weight 0 never picked, totalWeight checked, a cluster's own host rewrite; the single-cluster picker", () => {
  const t = compileRouteConfiguration(
    {
      name: "rc",
      virtualHosts: [
        vhost("v", ["*"], [
          {
            name: "w",
            match: { prefix: "/w" },
            route: { hostRewriteLiteral: "route.example", weightedClusters: { totalWeight: { value: 4 }, clusters: [{ name: "zero", weight: {} }, { name: "one", weight: { value: 1 }, hostRewriteLiteral: "one.example" }, { name: "three", weight: { value: 3 } }] } },
          },
          r("single", { prefix: "/" }),
        ]),
      ],
    },
    { random: seeded(1) },
  );
  const d = forward(t.route(req("/w")));
  const seen: Record<string, number> = {};
  for (let i = 0; i < 4000; i++) {
    const n = d.clusters.pick().name;
    seen[n] = (seen[n] ?? 0) + 1;
  }
  assert.equal(seen.zero, undefined);
  assert.ok(Math.abs(seen.one! / 4000 - 0.25) < 0.03, JSON.stringify(seen));
  assert.deepEqual(d.clusters.targets.map((x) => x.hostRewrite), [
    { kind: "literal", value: "route.example" },
    { kind: "literal", value: "one.example" },
    { kind: "literal", value: "route.example" },
  ]);
  const single = forward(t.route(req("/x")));
  assert.equal(single.clusters.pick().name, "single");
  assert.equal(single.clusters.total, 1);
});

test("redirects Envoy allows: httpsRedirect, stripQuery, pathRedirect with a query, regexRewrite, hostRedirect with a port, scheme change drops the port, IPv6, default 301", () => {
  const t = table([
    vhost("v", ["*"], [
      r("https", { prefix: "/https" }, { redirect: { httpsRedirect: true } }),
      r("strip", { prefix: "/strip" }, { redirect: { stripQuery: true, responseCode: "FOUND" } }),
      r("pathq", { prefix: "/pathq" }, { redirect: { pathRedirect: "/new?fixed=1" } }),
      r("regex", { safeRegex: { regex: "/re/([a-z]+)/([0-9]+)" } }, { redirect: { regexRewrite: { pattern: { regex: "^/re/([a-z]+)/([0-9]+)$" }, substitution: "/\\2/\\1" } } }),
      r("hostport", { prefix: "/hostport" }, { redirect: { hostRedirect: "other.example:9443", schemeRedirect: "https" } }),
      r("prefix", { prefix: "/pre" }, { redirect: { prefixRewrite: "/post" } }),
      r("exact", { path: "/exact" }, { redirect: { prefixRewrite: "/whole" } }),
    ]),
  ]);
  const loc = (path: string, authority = "example.com:8080", scheme: "http" | "https" = "http") => {
    const d = t.route(req(path, { host: authority, scheme }));
    assert.ok(d && d.kind === "redirect");
    return `${d.status} ${d.location}`;
  };
  assert.equal(loc("/https/a?b=1"), "301 https://example.com/https/a?b=1", "scheme change: the request's port is dropped");
  assert.equal(loc("/https"), "301 https://example.com/https");
  assert.equal(loc("/https", "[::1]:8080"), "301 https://[::1]/https");
  assert.equal(loc("/strip/x?secret=1"), "302 http://example.com:8080/strip/x");
  assert.equal(loc("/pathq?old=1"), "301 http://example.com:8080/new?fixed=1");
  assert.equal(loc("/re/abc/42?q"), "301 http://example.com:8080/42/abc?q");
  assert.equal(loc("/hostport"), "301 https://other.example:9443/hostport");
  assert.equal(loc("/prefix-x", "example.com"), "301 http://example.com/postfix-x", "a plain prefix rewrite replaces exactly the prefix");
  assert.equal(loc("/exact", "example.com:80"), "301 http://example.com/whole", "path match: the whole path; :80 is http's default");
  assert.equal(loc("/https", "example.com:443", "https"), "301 https://example.com/https", "same scheme: the port is kept, and :443 is https's default");
  assert.equal(loc("/https", "example.com:8443", "https"), "301 https://example.com:8443/https");
});

test("direct responses: status, inline body with content-type, response header mutations", () => {
  const t = table([
    vhost("v", ["*"], [
      { name: "teapot", match: { path: "/tea" }, directResponse: { status: 418, body: { inlineString: "short and stout" } }, responseHeadersToAdd: [{ header: { key: "x-pot", value: "1" } }] },
      { name: "bytes", match: { path: "/bytes" }, directResponse: { status: 200, body: { inlineBytes: Buffer.from("raw").toString("base64") } } },
      { name: "empty", match: { path: "/empty" }, directResponse: { status: 204 } },
    ]),
  ]);
  const tea = t.route(req("/tea"));
  assert.ok(tea && tea.kind === "direct");
  assert.equal(tea.status, 418);
  assert.equal(tea.body, "short and stout");
  assert.deepEqual(tea.headers, { "content-type": "text/plain" });
  const h: HeaderMap = {};
  applyHeaderMutations(tea.responseHeaders, h);
  assert.deepEqual(h, { "x-pot": "1" });
  const bytes = t.route(req("/bytes"));
  assert.equal(bytes?.kind === "direct" && bytes.body, "raw");
  const empty = t.route(req("/empty"));
  assert.ok(empty && empty.kind === "direct");
  assert.equal(empty.body, undefined);
  assert.deepEqual(empty.headers, {});
});

test("route actions: cluster-not-found codes, timeout 0 = none, prefix / path / regex prefix rewrites, auto host rewrite", () => {
  const t = table([
    vhost("v", ["*"], [
      r("nf", { path: "/nf" }, { route: { cluster: "c", clusterNotFoundResponseCode: "NOT_FOUND", timeout: {} } }),
      r("pre", { prefix: "/api/" }, { route: { cluster: "c", prefixRewrite: "/", autoHostRewrite: { value: true } } }),
      r("sep", { pathSeparatedPrefix: "/sep" }, { route: { cluster: "c", prefixRewrite: "/other" } }),
      r("path", { path: "/exact" }, { route: { cluster: "c", prefixRewrite: "/replaced" } }),
      r("re", { safeRegex: { regex: "/re/.*" } }, { route: { cluster: "c", prefixRewrite: "/whole" } }),
      r("rx", { prefix: "/rx" }, { route: { cluster: "c", regexRewrite: { pattern: { regex: "x" }, substitution: "y" } } }),
    ]),
  ]);
  const nf = forward(t.route(req("/nf")));
  assert.equal(nf.clusterNotFoundStatus, 404);
  assert.equal(nf.timeoutMs, 0);
  const rw = (p: string) => rewritePath(forward(t.route(req(p))), req(p));
  assert.equal(rw("/api/users?x"), "/users?x");
  assert.deepEqual(forward(t.route(req("/api/"))).hostRewrite, { kind: "auto" });
  assert.equal(rw("/sep/a"), "/other/a");
  assert.equal(rw("/sep"), "/other");
  assert.equal(rw("/exact?q=1"), "/replaced?q=1");
  assert.equal(rw("/re/a/b"), "/whole");
  assert.equal(rw("/rx/xx?x=x"), "/ry/yy?x=x", "every match replaced, the query left alone");
});

test("virtual host and table level policies: retry, mirrors, rate limits inherited unless the route has its own; requireTls ALL redirects plain HTTP", () => {
  const t = table(
    [
      vhost(
        "v",
        ["*"],
        [
          r("inherits", { prefix: "/in" }),
          r("own", { prefix: "/own" }, { route: { cluster: "c", retryPolicy: { retryOn: "5xx", perTryTimeout: { seconds: 1, nanos: 500_000_000 }, retryBackOff: { baseInterval: { nanos: 50_000_000 } } }, requestMirrorPolicies: [{ cluster: "m2", disableShadowHostSuffixAppend: true }], rateLimits: [{ actions: [{ remoteAddress: {} }] }] } }),
        ],
        { retryPolicy: { retryOn: "connect-failure, reset ,connect-failure", numRetries: { value: 2 } }, requestMirrorPolicies: [{ cluster: "m1", runtimeFraction: { defaultValue: { numerator: 5 } } }], rateLimits: [{ actions: [{ genericKey: { descriptorValue: "vh" } }] }] },
      ),
      vhost("secure", ["secure.example"], catchAll, { requireTls: "ALL" }),
    ],
    { requestMirrorPolicies: [{ cluster: "table-mirror" }] },
  );
  const inh = forward(t.route(req("/in")));
  assert.deepEqual(inh.retry, { retryOn: ["connect-failure", "reset"], numRetries: 2, retriableStatusCodes: [], backoffBaseMs: 25, backoffMaxMs: 250 });
  assert.deepEqual(inh.mirrors, [{ cluster: "m1", fraction: 0.05, shadowHostSuffix: true }]);
  assert.equal(inh.rateLimits, undefined);
  assert.deepEqual(inh.virtualHostRateLimits, [{ actions: [{ genericKey: { descriptorValue: "vh" } }] }]);
  const own = forward(t.route(req("/own")));
  assert.deepEqual(own.retry, { retryOn: ["5xx"], numRetries: 1, perTryTimeoutMs: 1500, retriableStatusCodes: [], backoffBaseMs: 50, backoffMaxMs: 500 });
  assert.deepEqual(own.mirrors, [{ cluster: "m2", fraction: 1, shadowHostSuffix: false }]);
  assert.deepEqual(own.rateLimits, [{ actions: [{ remoteAddress: {} }] }]);
  const plain = t.route(req("/a?b", { host: "secure.example:8080" }));
  assert.ok(plain && plain.kind === "redirect");
  assert.equal(`${plain.status} ${plain.location}`, "301 https://secure.example/a?b");
  assert.equal(t.route(req("/a", { host: "secure.example", scheme: "https" }))?.kind, "forward");
  const other = table([vhost("v", ["*"], catchAll)], { requestMirrorPolicies: [{ cluster: "table-mirror" }] });
  assert.deepEqual(forward(other.route(req("/"))).mirrors, [{ cluster: "table-mirror", fraction: 1, shadowHostSuffix: true }]);
});

test("many routes (indexed by first path segment) decide exactly like the routes checked one by one", () => {
  const routes: EnvoyResource[] = [];
  const kinds = (i: number): EnvoyResource => {
    const seg = `s${i % 7}`;
    switch (i % 6) {
      case 0:
        return { prefix: `/${seg}/` };
      case 1:
        return { path: `/${seg}/item${i}` };
      case 2:
        return { pathSeparatedPrefix: `/${seg}` , headers: [{ name: "x-v", stringMatch: { exact: String(i % 3) } }] };
      case 3:
        return { safeRegex: { regex: `/${seg}/[0-9]+` } };
      case 4:
        return { prefix: `/${seg}`, caseSensitive: { value: false }, queryParameters: [{ name: "q", presentMatch: true }] };
      default:
        return { safeRegex: { regex: `/(a|${seg})/x.*` } };
    }
  };
  for (let i = 0; i < 60; i++) routes.push(r(`r${i}`, kinds(i)));
  routes.push(r("fallback", { prefix: "/" }));
  const big = table([vhost("v", ["*"], routes)]);
  const singles = routes.map((route) => table([vhost("v", ["*"], [route])]));
  const paths: [string, RequestOptions][] = [];
  for (let s = 0; s < 8; s++) {
    for (const tail of ["", "/", "/item1", "/item13", "/42", "/x1", "/abc", "?q=1", "/7?q"]) {
      paths.push([`/s${s}${tail}`, {}], [`/S${s}${tail}`, {}], [`/s${s}${tail}`, { headers: { "x-v": String(s % 3) } }]);
    }
  }
  paths.push(["/a/xyz", {}], ["/", {}], ["*", {}], ["/s1x/1", {}]);
  let indexedHits = 0;
  for (const [path, o] of paths) {
    const expected = routes.find((_, i) => singles[i]!.route(req(path, o)) !== undefined)?.name;
    const got = big.route(req(path, o))?.routeName;
    assert.equal(got, expected, `${path} ${JSON.stringify(o)}`);
    if (got !== "fallback") indexedHits++;
  }
  assert.ok(indexedHits > 100, `only ${indexedHits} requests hit a specific route`);
});

test("every route table the translator emits (the xDS golden files) compiles", () => {
  const dir = join(import.meta.dirname, "../../golden/xds");
  let n = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".out.yaml"))) {
    const doc = parse(readFileSync(join(dir, f), "utf8")) as { nodes: Record<string, { route?: Record<string, { value: EnvoyResource }> }> };
    for (const node of Object.values(doc.nodes)) {
      for (const [rcName, rc] of Object.entries(node.route ?? {})) {
        assert.doesNotThrow(() => compileRouteConfiguration(rc.value), `${f} ${rcName}`);
        n++;
      }
    }
  }
  assert.ok(n > 50, `${n} tables`);
});
