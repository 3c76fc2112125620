import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { MISSING_CLUSTER, routeConfiguration, type RouteTableOptions } from "../../../src/xds/resources/route-configuration.js";
import { ANY_TYPES } from "../../../src/xds/resources/common.js";
import { XdsUnsupportedError } from "../../../src/errors.js";
import type { IrRateLimitRule, IrRoute } from "../../../src/ir/index.js";
import { simpleRoute, table } from "./fixtures.js";

function routes(rs: IrRoute[], options: RouteTableOptions = { grpc: false }): any[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const rc = decodeResource(TYPE_URLS.route, encodeResource(TYPE_URLS.route, routeConfiguration(table("t", rs, ["shop.example", "*.shop.example"]), options))) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(rc.name, "t");
  assert.deepEqual(rc.virtualHosts[0].domains, ["shop.example", "*.shop.example"]);
  return rc.virtualHosts[0].routes;
}
const one = (r: Partial<IrRoute>, options?: RouteTableOptions) => routes([simpleRoute("r", "c", r)], options)[0];
const path = (kind: "Exact" | "PathPrefix" | "RegularExpression", value: string) => ({ path: { kind, value }, headers: [], queryParams: [] });

test("path matches: exact, segment-aware prefix (trailing slash ignored), `/`, regex", () => {
  assert.deepEqual(one({ match: path("Exact", "/a/b") }).match, { path: "/a/b" });
  assert.deepEqual(one({ match: path("PathPrefix", "/api/") }).match, { pathSeparatedPrefix: "/api" });
  assert.deepEqual(one({ match: path("PathPrefix", "/") }).match, { prefix: "/" });
  assert.deepEqual(one({ match: path("RegularExpression", "/v[0-9]+/.*") }).match, { safeRegex: { regex: "/v[0-9]+/.*" } });
});

test("headers, query parameters and the method match", () => {
  const m = one({
    match: { path: { kind: "PathPrefix", value: "/" }, headers: [{ name: "x-env", kind: "Exact", value: "prod" }, { name: "x-v", kind: "RegularExpression", value: "v[12]" }], queryParams: [{ name: "debug", kind: "Exact", value: "1" }], method: "POST" },
  }).match;
  assert.deepEqual(m.headers, [
    { name: "x-env", stringMatch: { exact: "prod" } },
    { name: "x-v", stringMatch: { safeRegex: { regex: "v[12]" } } },
    { name: ":method", stringMatch: { exact: "POST" } },
  ]);
  assert.deepEqual(m.queryParameters, [{ name: "debug", stringMatch: { exact: "1" } }]);
});

test("one backend: cluster; several: weighted clusters with per-backend header changes", () => {
  assert.deepEqual(one({}).route, { cluster: "c" });
  const r = one({
    action: {
      kind: "forward",
      backends: [
        { cluster: "v1", weight: 90 },
        { cluster: "v2", weight: 10, requestHeaders: { set: [{ name: "x-canary", value: "1" }], add: [], remove: [] } },
      ],
    },
  }).route;
  assert.deepEqual(r.weightedClusters.clusters, [
    { name: "v1", weight: { value: 90 } },
    { name: "v2", weight: { value: 10 }, requestHeadersToAdd: [{ header: { key: "x-canary", value: "1" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }] },
  ]);
  assert.equal(r.clusterNotFoundResponseCode, undefined);
});

test("invalid backends keep their share of traffic, sent to a cluster that does not exist and answered 500", () => {
  const r = one({ action: { kind: "forward", backends: [{ cluster: "v1", weight: 3 }, { weight: 1 }, { weight: 1 }] } }).route;
  assert.deepEqual(r.weightedClusters.clusters, [{ name: "v1", weight: { value: 3 } }, { name: MISSING_CLUSTER, weight: { value: 2 } }]);
  assert.equal(r.clusterNotFoundResponseCode, "INTERNAL_SERVER_ERROR");
});

test("ReplacePrefixMatch follows Gateway API: segment prefix rewrite, `/` without double slashes, trailing slashes ignored", () => {
  const rw = (prefix: string, value: string, matchPrefix = prefix) =>
    one({ match: path("PathPrefix", matchPrefix), action: { kind: "forward", backends: [{ cluster: "c", weight: 1 }], pathRewrite: { kind: "ReplacePrefixMatch", prefix, value } } }).route;
  assert.equal(rw("/foo", "/bar").prefixRewrite, "/bar");
  assert.equal(rw("/foo/", "/bar/").prefixRewrite, "/bar");
  assert.deepEqual(rw("/foo", "/").regexRewrite, { pattern: { regex: "^/foo/*" }, substitution: "/" });
  assert.deepEqual(rw("/", "/bar").regexRewrite, { pattern: { regex: "^(/.*)?$" }, substitution: "/bar\\1" });
  const full = one({ action: { kind: "forward", backends: [{ cluster: "c", weight: 1 }], pathRewrite: { kind: "ReplaceFullPath", value: "/new" } } }).route;
  assert.deepEqual(full.regexRewrite, { pattern: { regex: "^/.*$" }, substitution: "/new" });
});

test("the regex rewrite patterns do what Gateway API asks (checked with the same patterns in JS)", () => {
  const apply = (prefix: string, value: string, p: string) => {
    const r = one({ match: path("PathPrefix", prefix), action: { kind: "forward", backends: [{ cluster: "c", weight: 1 }], pathRewrite: { kind: "ReplacePrefixMatch", prefix, value } } }, { grpc: true }).route;
    return p.replace(new RegExp(r.regexRewrite.pattern.regex), r.regexRewrite.substitution.replace(/\\(\d)/g, "$$$1"));
  };
  assert.equal(apply("/foo", "/bar", "/foo"), "/bar");
  assert.equal(apply("/foo", "/bar", "/foo/x/y"), "/bar/x/y");
  assert.equal(apply("/foo/", "/bar/", "/foo/x"), "/bar/x");
  assert.equal(apply("/foo", "/", "/foo/x"), "/x");
  assert.equal(apply("/foo", "/", "/foo"), "/");
});

test("host rewrite, mirrors, timeouts, retries", () => {
  const r = one({
    action: {
      kind: "forward",
      backends: [{ cluster: "c", weight: 1 }],
      hostRewrite: "internal.example",
      mirrors: [{ cluster: "shadow" }, { cluster: "half", percent: 50 }],
      timeoutMs: 10_000,
      perTryTimeoutMs: 2_000,
      retry: { attempts: 3, on: ["5xx", "retriable-status-codes"], statusCodes: [503], backoff: { baseMs: 100, maxMs: 1_000 } },
    },
  }).route;
  assert.equal(r.hostRewriteLiteral, "internal.example");
  assert.deepEqual(r.requestMirrorPolicies, [{ cluster: "shadow" }, { cluster: "half", runtimeFraction: { defaultValue: { numerator: 500_000, denominator: "MILLION" } } }]);
  assert.deepEqual(r.timeout, { seconds: 10 });
  assert.deepEqual(r.retryPolicy, {
    retryOn: "5xx,retriable-status-codes",
    numRetries: { value: 3 },
    retriableStatusCodes: [503],
    perTryTimeout: { seconds: 2 },
    retryBackOff: { baseInterval: { seconds: 0, nanos: 100_000_000 }, maxInterval: { seconds: 1 } },
  });
});

test("without retries the per-try timeout bounds the single try", () => {
  const r = one({ action: { kind: "forward", backends: [{ cluster: "c", weight: 1 }], timeoutMs: 10_000, perTryTimeoutMs: 2_000 } }).route;
  assert.deepEqual(r.timeout, { seconds: 2 });
  assert.equal(r.retryPolicy, undefined);
});

test("redirects: scheme, host, port, path, status code", () => {
  const r = one({ match: path("PathPrefix", "/old"), action: { kind: "redirect", scheme: "https", hostname: "new.example", port: 8443, path: { kind: "ReplacePrefixMatch", prefix: "/old", value: "/new" }, statusCode: 301 } });
  assert.deepEqual(r.redirect, { schemeRedirect: "https", hostRedirect: "new.example", portRedirect: 8443, prefixRewrite: "/new", responseCode: "MOVED_PERMANENTLY" });
  assert.equal(one({ action: { kind: "redirect", path: { kind: "ReplaceFullPath", value: "/x" }, statusCode: 302 } }).redirect.pathRedirect, "/x");
  assert.equal(one({ action: { kind: "redirect", statusCode: 308 } }).redirect.responseCode, "PERMANENT_REDIRECT");
  assert.throws(() => one({ action: { kind: "redirect", statusCode: 305 } }), XdsUnsupportedError);
});

test("direct responses and header mutations on the route", () => {
  const r = one({
    action: { kind: "direct", status: 500, body: "no backend" },
    requestHeaders: { set: [{ name: "x-a", value: "1" }], add: [{ name: "x-b", value: "2" }], remove: ["x-c"] },
    responseHeaders: { set: [], add: [{ name: "x-served-by", value: "meshgate" }], remove: ["server"] },
  });
  assert.deepEqual(r.directResponse, { status: 500, body: { inlineString: "no backend" } });
  assert.deepEqual(r.requestHeadersToAdd, [
    { header: { key: "x-a", value: "1" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
    { header: { key: "x-b", value: "2" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" },
  ]);
  assert.deepEqual(r.requestHeadersToRemove, ["x-c"]);
  assert.deepEqual(r.responseHeadersToAdd, [{ header: { key: "x-served-by", value: "meshgate" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" }]);
  assert.deepEqual(r.responseHeadersToRemove, ["server"]);
});

test("the gRPC form: prefix as regex, redirect and direct response become a missing cluster, per-filter configs optional", () => {
  const rs = routes(
    [
      simpleRoute("prefix", "c", { match: path("PathPrefix", "/pkg.Svc"), localRateLimit: { rules: [{ id: "p/l/rule/0", clientSelectors: [], requests: 5, unit: "Second" }] } }),
      simpleRoute("redirect", "c", { action: { kind: "redirect", statusCode: 301 } }),
      simpleRoute("direct", "c", { action: { kind: "direct", status: 404 } }),
    ],
    { grpc: true },
  );
  assert.deepEqual(rs[0].match, { safeRegex: { regex: "^/pkg\\.Svc(/.*)?$" } });
  const wrapped = rs[0].typedPerFilterConfig["envoy.filters.http.local_ratelimit"];
  assert.equal(wrapped["@type"], ANY_TYPES.filterConfig);
  assert.equal(wrapped.isOptional, true);
  assert.equal(wrapped.config["@type"], ANY_TYPES.localRateLimit);
  assert.deepEqual(rs[1].route, { cluster: MISSING_CLUSTER, clusterNotFoundResponseCode: "INTERNAL_SERVER_ERROR" });
  assert.deepEqual(rs[2].route, { cluster: MISSING_CLUSTER, clusterNotFoundResponseCode: "NOT_FOUND" });
});

const rule = (over: Partial<IrRateLimitRule> = {}): IrRateLimitRule => ({ id: "apps/limits/rule/0", clientSelectors: [], requests: 10, unit: "Minute", ...over });

test("local rate limits: a token bucket per rule keyed by the rule id, route actions at the local stage", () => {
  const r = one({
    localRateLimit: {
      rules: [
        rule({
          clientSelectors: [
            {
              headers: [{ name: "x-user", kind: "Exact", value: "bob" }, { name: "x-bot", kind: "RegularExpression", value: ".*", invert: true }],
              sourceCidr: { cidr: "10.0.0.0/8", distinct: false },
              methods: ["GET", "POST"],
              path: { kind: "PathPrefix", value: "/api/" },
            },
          ],
        }),
      ],
    },
  });
  const cfg = r.typedPerFilterConfig["envoy.filters.http.local_ratelimit"];
  assert.equal(cfg["@type"], ANY_TYPES.localRateLimit);
  assert.equal(cfg.stage, 1);
  assert.deepEqual(cfg.filterEnabled.defaultValue, { numerator: 100, denominator: "HUNDRED" });
  assert.deepEqual(cfg.filterEnforced.defaultValue, { numerator: 100, denominator: "HUNDRED" });
  assert.deepEqual(cfg.descriptors, [
    {
      entries: [
        { key: "rule", value: "apps/limits/rule/0" },
        { key: "header.x-user", value: "match" },
        { key: "header.x-bot", value: "match" },
        { key: "masked_remote_address", value: "10.0.0.0/8" },
        { key: "method", value: "match" },
        { key: "path", value: "match" },
      ],
      tokenBucket: { maxTokens: 10, tokensPerFill: { value: 10 }, fillInterval: { seconds: 60 } },
    },
  ]);
  const [limit] = r.route.rateLimits;
  assert.deepEqual(limit.stage, { value: 1 });
  assert.deepEqual(limit.actions[0], { genericKey: { descriptorValue: "apps/limits/rule/0", descriptorKey: "rule" } });
  assert.deepEqual(limit.actions[2].headerValueMatch.expectMatch, { value: false });
  assert.deepEqual(limit.actions[3], { maskedRemoteAddress: { v4PrefixMaskLen: { value: 8 } } });
  const pathRegex = new RegExp(limit.actions[5].headerValueMatch.headers[0].stringMatch.safeRegex.regex);
  assert.ok(pathRegex.test("/api/x?y=1") && pathRegex.test("/api") && !pathRegex.test("/apix"));
});

test("local rate limits cannot count per distinct value", () => {
  assert.throws(() => one({ localRateLimit: { rules: [rule({ clientSelectors: [{ headers: [{ name: "x-user", kind: "Distinct" }] }] })] } }), XdsUnsupportedError);
});

test("global rate limits: actions at stage 0 with distinct headers and sources, the route's domain per route", () => {
  const r = one({
    globalRateLimit: { domain: "apps/limits", rules: [rule({ clientSelectors: [{ headers: [{ name: "x-user", kind: "Distinct" }], sourceCidr: { cidr: "0.0.0.0/0", distinct: true } }] })] },
  });
  const [limit] = r.route.rateLimits;
  assert.deepEqual(limit.stage, { value: 0 });
  assert.deepEqual(limit.actions, [
    { genericKey: { descriptorValue: "apps/limits/rule/0", descriptorKey: "rule" } },
    { requestHeaders: { headerName: "x-user", descriptorKey: "header.x-user" } },
    { maskedRemoteAddress: { v4PrefixMaskLen: { value: 0 } } },
    { remoteAddress: {} },
  ]);
  assert.deepEqual(r.typedPerFilterConfig["envoy.filters.http.ratelimit"], { "@type": ANY_TYPES.rateLimitPerRoute, domain: "apps/limits" });
});

test("listener-wide limits apply to every forwarding route of the table", () => {
  const rs = routes([simpleRoute("a", "c"), simpleRoute("b", "c")], { grpc: false, listenerLocalRateLimit: { rules: [rule({ id: "gw/rule/0" })] } });
  for (const r of rs) {
    assert.equal(r.typedPerFilterConfig["envoy.filters.http.local_ratelimit"].descriptors[0].entries[0].value, "gw/rule/0");
    assert.equal(r.route.rateLimits[0].actions[0].genericKey.descriptorValue, "gw/rule/0");
  }
});
