// What the router cannot honour is refused with a message naming the route
// configuration, virtual host, route and field: the xDS client NACKs with it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshgateError } from "../../../src/errors.js";
import type { EnvoyResource } from "../../../src/proxy/contracts.js";
import { compileRouteConfiguration } from "../../../src/proxy/router/route-table.js";

const ROUTE = 'route configuration "rc" virtual host "v" route 1 ("r")';

function nack(rc: EnvoyResource): string {
  try {
    compileRouteConfiguration(rc);
  } catch (e) {
    assert.ok(e instanceof MeshgateError, String(e));
    assert.equal(e.code, "ERR_PROXY_ROUTE_UNSUPPORTED");
    return e.message;
  }
  assert.fail("expected the configuration to be refused");
}

/** A table whose virtual host "v" has a good route 0 and `route` as route 1. */
function withRoute(route: EnvoyResource): EnvoyResource {
  return { name: "rc", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ name: "ok", match: { prefix: "/ok" }, route: { cluster: "c" } }, { name: "r", ...route }] }] };
}

const fwd = (extra: EnvoyResource = {}, match: EnvoyResource = { prefix: "/" }) => withRoute({ match, route: { cluster: "c", ...extra } });

test("route-level fields and values the router cannot honour", () => {
  const cases: [EnvoyResource, string][] = [
    [fwd({ clusterHeader: "x-cluster" }), `${ROUTE}: route.clusterHeader: field not supported by meshgate's proxy`],
    [fwd({ hashPolicy: [{ header: { headerName: "x" } }] }), `${ROUTE}: route.hashPolicy: field not supported by meshgate's proxy`],
    [fwd({ upgradeConfigs: [{ upgradeType: "websocket" }] }), `${ROUTE}: route.upgradeConfigs: field not supported by meshgate's proxy`],
    [fwd({ retryPolicy: { retryOn: "5xx,retriable-headers" } }), `${ROUTE}: route.retryPolicy.retryOn: retry condition "retriable-headers" is not supported`],
    [fwd({ retryPolicy: { retryHostPredicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }] } }), `${ROUTE}: route.retryPolicy.retryHostPredicate: field not supported by meshgate's proxy`],
    [fwd({ retryPolicy: { retryBackOff: { baseInterval: { seconds: 1 }, maxInterval: { nanos: 1000 } } } }), `${ROUTE}: route.retryPolicy.retryBackOff.maxInterval: must not be less than baseInterval`],
    [fwd({ retryPolicy: { retriableStatusCodes: [700] } }), `${ROUTE}: route.retryPolicy.retriableStatusCodes[0]: 700 is not an HTTP status`],
    [fwd({ priority: "HIGH" }), `${ROUTE}: route.priority: "HIGH" is not supported`],
    [fwd({ clusterNotFoundResponseCode: "IM_A_TEAPOT" }), `${ROUTE}: route.clusterNotFoundResponseCode: unknown code "IM_A_TEAPOT"`],
    [fwd({ regexRewrite: { pattern: { regex: "(?=x)" }, substitution: "" } }), `${ROUTE}: route.regexRewrite: "(?=x)": lookaround assertions are not RE2 syntax`],
    [fwd({ regexRewrite: { pattern: { regex: "(a)" }, substitution: "\\2" } }), `${ROUTE}: route.regexRewrite: "(a)": substitution refers to group 2, the pattern has 1`],
    [withRoute({ match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ name: "a", weight: {} }, { name: "b" }] } } }), `${ROUTE}: route.weightedClusters: the weights must add up to more than zero`],
    [withRoute({ match: { prefix: "/" }, route: { weightedClusters: { totalWeight: { value: 100 }, clusters: [{ name: "a", weight: { value: 1 } }] } } }), `${ROUTE}: route.weightedClusters.totalWeight: is 100 but the weights add up to 1`],
    [withRoute({ match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ name: "a", weight: { value: 1 }, clusterHeader: "x" }] } } }), `${ROUTE}: route.weightedClusters.clusters[0].clusterHeader: field not supported by meshgate's proxy`],
    [withRoute({ match: { prefix: "/" }, route: {} }), `${ROUTE}: route: exactly one of cluster and weightedClusters is required`],
    [withRoute({ match: { prefix: "/" } }), `${ROUTE}: action: exactly one of route, redirect, directResponse is required`],
    [withRoute({ match: { prefix: "/" }, filterAction: {} }), `${ROUTE}: filterAction: field not supported by meshgate's proxy`],
    [fwd({ requestMirrorPolicies: [{ cluster: "m", clusterHeader: "x" }] }), `${ROUTE}: route.requestMirrorPolicies[0].clusterHeader: field not supported by meshgate's proxy`],
    [withRoute({ match: { prefix: "/" }, route: { cluster: "c" }, typedPerFilterConfig: { f: { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } } }), `${ROUTE}: typedPerFilterConfig["f"].disabled: field not supported by meshgate's proxy`],
    [withRoute({ match: { prefix: "/" }, directResponse: { status: 200, body: { filename: "/etc/passwd" } } }), `${ROUTE}: directResponse.body.filename: field not supported by meshgate's proxy`],
    [withRoute({ match: { prefix: "/" }, directResponse: { status: 99 } }), `${ROUTE}: directResponse.status: 99 is not a status a direct response may use (200-599)`],
    [withRoute({ match: { prefix: "/" }, redirect: { responseCode: "MULTIPLE_CHOICES" } }), `${ROUTE}: redirect.responseCode: unknown code "MULTIPLE_CHOICES"`],
    [withRoute({ match: { prefix: "/" }, redirect: { pathRedirect: "/a", prefixRewrite: "/b" } }), `${ROUTE}: redirect: pathRedirect and prefixRewrite are both set`],
  ];
  for (const [rc, message] of cases) assert.equal(nack(rc), message);
});

test("match fields and values the router cannot honour", () => {
  const cases: [EnvoyResource, string][] = [
    [fwd({}, { prefix: "/", runtimeFraction: { defaultValue: { numerator: 50 } } }), `${ROUTE}: match.runtimeFraction: field not supported by meshgate's proxy`],
    [fwd({}, { prefix: "/", tlsContext: { presented: {} } }), `${ROUTE}: match.tlsContext: field not supported by meshgate's proxy`],
    [fwd({}, { prefix: "/", path: "/x" }), `${ROUTE}: match: exactly one of prefix, path, safeRegex, pathSeparatedPrefix is required`],
    [fwd({}, {}), `${ROUTE}: match: exactly one of prefix, path, safeRegex, pathSeparatedPrefix is required`],
    [fwd({}, { pathSeparatedPrefix: "/foo/" }), `${ROUTE}: match.pathSeparatedPrefix: "/foo/": must not contain ? or # nor end with /`],
    [fwd({}, { safeRegex: { regex: "/(a)\\1" } }), `${ROUTE}: match.safeRegex.regex: "/(a)\\\\1": backreferences are not RE2 syntax`],
    [fwd({}, { safeRegex: { regex: "/\\pL+" } }), `${ROUTE}: match.safeRegex.regex: "/\\\\pL+": escape \\p is not supported`],
    [fwd({}, { prefix: "/", headers: [{ name: "x", stringMatch: { custom: { name: "m" } } }] }), `${ROUTE}: match.headers[0].stringMatch.custom: field not supported by meshgate's proxy`],
    [fwd({}, { prefix: "/", headers: [{ name: "x", stringMatch: { prefix: "" } }] }), `${ROUTE}: match.headers[0].stringMatch.prefix: must not be empty`],
    [fwd({}, { prefix: "/", headers: [{ name: ":status", presentMatch: true }] }), `${ROUTE}: match.headers[0].name: pseudo-header :status cannot be matched (only :method, :authority, :path, :scheme)`],
    [fwd({}, { prefix: "/", headers: [{ name: "x", rangeMatch: { start: 5, end: 5 } }] }), `${ROUTE}: match.headers[0].rangeMatch: end must be greater than start`],
    [fwd({}, { prefix: "/", queryParameters: [{ name: "q", presentMatch: false }] }), `${ROUTE}: match.queryParameters[0].presentMatch: false is not supported (Envoy requires true)`],
    [fwd({}, { prefix: "/", dynamicMetadata: [{ filter: "f" }] }), `${ROUTE}: match.dynamicMetadata: field not supported by meshgate's proxy`],
  ];
  for (const [rc, message] of cases) assert.equal(nack(rc), message);
});

test("header mutations the router refuses: pseudo-headers, host, unknown variables, both append forms", () => {
  const withHeaders = (requestHeadersToAdd: EnvoyResource[], extra: EnvoyResource = {}) => withRoute({ match: { prefix: "/" }, route: { cluster: "c" }, requestHeadersToAdd, ...extra });
  assert.equal(nack(withHeaders([{ header: { key: ":path", value: "/x" } }])), `${ROUTE}: requestHeadersToAdd[0].header.key: ":path" is not a valid header name (pseudo-headers cannot be modified)`);
  assert.equal(nack(withHeaders([{ header: { key: "Host", value: "x" } }])), `${ROUTE}: requestHeadersToAdd[0].header.key: the host header cannot be modified this way (use a host rewrite)`);
  assert.equal(nack(withHeaders([], { requestHeadersToRemove: ["host"] })), `${ROUTE}: requestHeadersToRemove[0]: the host header cannot be modified this way (use a host rewrite)`);
  assert.equal(nack(withHeaders([{ header: { key: "x", value: "%START_TIME%" } }])), `${ROUTE}: requestHeadersToAdd[0].header.value: variable %START_TIME% is not supported`);
  assert.equal(nack(withHeaders([{ header: { key: "x", value: "50%" } }])), `${ROUTE}: requestHeadersToAdd[0].header.value: unterminated variable in "50%"`);
  assert.equal(nack(withHeaders([{ header: { key: "x", value: "1" }, append: { value: true }, appendAction: "ADD_IF_ABSENT" }])), `${ROUTE}: requestHeadersToAdd[0]: append and appendAction are both set`);
});

test("virtual host and table level refusals name their level", () => {
  const vh = (extra: EnvoyResource) => ({ name: "rc", virtualHosts: [{ name: "v", domains: ["*"], routes: [], ...extra }] });
  assert.equal(nack(vh({ cors: { allowOriginStringMatch: [] } })), `route configuration "rc" virtual host "v": cors: field not supported by meshgate's proxy`);
  assert.equal(nack(vh({ requireTls: "EXTERNAL_ONLY" })), `route configuration "rc" virtual host "v": requireTls: EXTERNAL_ONLY is not supported (NONE or ALL)`);
  assert.equal(nack(vh({ includeRequestAttemptCount: true })), `route configuration "rc" virtual host "v": includeRequestAttemptCount: field not supported by meshgate's proxy`);
  assert.equal(nack(vh({ domains: [] })), `route configuration "rc" virtual host "v": domains: at least one domain is required`);
  assert.equal(nack(vh({ domains: ["a.*.com"] })), `route configuration "rc" virtual host "v": domains[0]: "a.*.com": a wildcard must lead or end the domain`);
  assert.equal(
    nack({ name: "rc", virtualHosts: [{ name: "a", domains: ["x.example", "*"], routes: [] }, { name: "b", domains: ["X.example"], routes: [] }] }),
    `route configuration "rc" virtual host "b": domains[0]: "X.example" is already served by another virtual host`,
  );
  assert.equal(nack({ name: "rc", vhds: { configSource: { ads: {} } } }), `route configuration "rc": vhds: field not supported by meshgate's proxy`);
  assert.equal(nack({ name: "rc", internalOnlyHeaders: ["x-internal"] }), `route configuration "rc": internalOnlyHeaders: field not supported by meshgate's proxy`);
  assert.equal(nack({ name: "rc", clusterSpecifierPlugins: [{}] }), `route configuration "rc": clusterSpecifierPlugins: field not supported by meshgate's proxy`);
  assert.equal(nack({ name: "rc", responseHeadersToAdd: [{ header: { key: "x" }, appendAction: "NOPE" }] }), `route configuration "rc": responseHeadersToAdd[0].appendAction: unknown action "NOPE"`);
});

test("fields that only feed statistics, tracing or metadata are accepted and ignored", () => {
  assert.doesNotThrow(() =>
    compileRouteConfiguration({
      name: "rc",
      validateClusters: { value: true },
      metadata: { filterMetadata: {} },
      virtualHosts: [{ name: "v", domains: ["*"], virtualClusters: [{ name: "vc" }], routes: [{ name: "r", match: { prefix: "/" }, route: { cluster: "c" }, decorator: { operation: "op" }, statPrefix: "s", metadata: {}, tracing: {} }] }],
    }),
  );
});
