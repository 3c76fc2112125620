// RBAC: Istio AuthorizationPolicy semantics end to end (configuration -> translator ->
// encoded xDS -> the proxy's filters), and every permission and principal kind the
// filter understands, each matching and not matching.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compileHttpFilters, RBAC_DENIED_BODY, RBAC_METADATA } from "../../../src/proxy/filters/index.js";
import { ProxyFilterUnsupportedError } from "../../../src/errors.js";
import { GATEWAY_CLASS } from "../../helpers/model.js";
import { chain, ctxOf, run, statusOf, xdsOf, type RequestSpec } from "./helpers.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";

function rbac(action: "ALLOW" | "DENY" | "LOG", permissions: Obj[], principals: Obj[] = [{ any: true }], name = "envoy.filters.http.rbac") {
  return { name, typedConfig: { "@type": RBAC, rules: { action, policies: { p: { permissions, principals } } } } };
}

/** ALLOW with one permission / principal: 200 when it matches, 403 when not. */
const allowIf = (permission: Obj, principal: Obj = { any: true }) => chain([rbac("ALLOW", [permission], [principal]), ROUTER]);

const golden = readFileSync(join(import.meta.dirname, "../../golden/xds/authorization-policy.in.yaml"), "utf8");
const xds = await xdsOf(golden);

test("gateway: DENY policies run before ALLOW ones, and a request no ALLOW policy matches is denied", async () => {
  const filters = chain(xds.httpFilters("gateway~infra~gw", "0.0.0.0_8080"));
  assert.deepEqual(
    filters.map((f) => f.name),
    ["envoy.filters.http.rbac.deny", "envoy.filters.http.rbac.allow"],
  );
  // ipBlocks 10.0.0.0/8 is allowed ...
  assert.equal(await statusOf(filters, { path: "/orders", remoteAddress: "10.1.2.3" }), 200);
  // ... but not for the paths the root-namespace DENY policy names.
  const denied = await run(filters, ctxOf({ path: "/debug/vars", remoteAddress: "10.1.2.3" }));
  assert.deepEqual(denied, { action: "respond", status: 403, body: RBAC_DENIED_BODY });
  assert.equal(await statusOf(filters, { path: "/a/internal", remoteAddress: "10.1.2.3" }), 403);
  assert.equal(await statusOf(filters, { path: "/a/internal?x=1", remoteAddress: "10.1.2.3" }), 403, "urlPath ignores the query");
  // No ALLOW rule matches other peers.
  assert.equal(await statusOf(filters, { path: "/orders", remoteAddress: "192.168.1.1" }), 403);
  // notRemoteIpBlocks: the original client (last x-forwarded-for entry) must not be in 10.9/16.
  assert.equal(await statusOf(filters, { remoteAddress: "10.1.2.3", headers: { "x-forwarded-for": "10.9.3.4" } }), 403);
  assert.equal(await statusOf(filters, { remoteAddress: "10.1.2.3", headers: { "x-forwarded-for": "10.9.3.4, 1.2.3.4" } }), 200);
  assert.equal(await statusOf(filters, { remoteAddress: "10.1.2.3", headers: { "x-forwarded-for": "1.2.3.4, 10.9.3.4" } }), 403);
  // What the connection manager determined wins over the header.
  const ctx = { ...ctxOf({ remoteAddress: "10.1.2.3", headers: { "x-forwarded-for": "10.9.3.4" } }), clientAddress: "1.1.1.1" };
  assert.deepEqual(await run(filters, ctx), { action: "continue" });
  // Requests from IPv4 peers on dual-stack sockets compare as IPv4.
  assert.equal(await statusOf(filters, { remoteAddress: "::ffff:10.0.0.7" }), 200);
});

test("sidecar: from / to / when of an ALLOW policy, and AUDIT marking without enforcing", async () => {
  const filters = chain(xds.httpFilters("sidecar~apps~api", "inbound|127.0.0.1_18081", "inbound|tls"));
  assert.deepEqual(
    filters.map((f) => f.name),
    ["envoy.filters.http.rbac.audit", "envoy.filters.http.rbac.deny", "envoy.filters.http.rbac.allow"],
  );
  const web = { peerSpiffeId: "spiffe://apps.example/ns/apps/sa/web" };
  const ok: RequestSpec = { method: "GET", path: "/api/items", authority: "api.apps.svc.cluster.local", localPort: 18081, tls: web, headers: { "x-env": "prod" } };
  assert.equal(await statusOf(filters, ok), 200);
  assert.equal(await statusOf(filters, { ...ok, method: "HEAD" }), 200);
  assert.equal(await statusOf(filters, { ...ok, authority: "API.apps.svc.cluster.local:8080" }), 200, "hosts compare without case, with or without port");
  assert.equal(await statusOf(filters, { ...ok, authority: "other.apps.svc.cluster.local" }), 403);
  assert.equal(await statusOf(filters, { ...ok, method: "POST" }), 403);
  assert.equal(await statusOf(filters, { ...ok, path: "/other" }), 403);
  assert.equal(await statusOf(filters, { ...ok, localPort: 18082 }), 403);
  assert.equal(await statusOf(filters, { ...ok, headers: {} }), 403, "when request.headers[x-env] must hold");
  assert.equal(await statusOf(filters, { ...ok, headers: { "x-env": "test" } }), 403);
  assert.equal(await statusOf(filters, { ...ok, tls: { peerSpiffeId: "spiffe://apps.example/ns/apps/sa/other" } }), 403);
  assert.equal(await statusOf(filters, { ...ok, tls: undefined }), 403, "no peer certificate, no principal");
  assert.equal(await statusOf(filters, { ...ok, path: "/debug" }), 403, "the mesh-wide DENY applies to sidecars too");

  // AUDIT: writes are marked, reads are not; neither is decided by it.
  const audit = filters[0]!;
  const write = ctxOf({ ...ok, method: "POST" });
  assert.deepEqual(audit.decode(write), { action: "continue" }, "sync, and never enforcing");
  assert.deepEqual(write.metadata.get(RBAC_METADATA), { access_log_hint: true, log_policy_id: "apps/audit-writes/rule/0" });
  const read = ctxOf(ok);
  audit.decode(read);
  assert.equal(read.metadata.get(RBAC_METADATA), undefined);
});

test("only DENY policies: everything they do not match is allowed", async () => {
  const x = await xdsOf(`${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 8080, protocol: HTTP }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  action: DENY
  rules:
    - to: [{ operation: { methods: [DELETE] } }]
      from: [{ source: { notIpBlocks: [192.168.0.0/16] } }]
`);
  const filters = chain(x.httpFilters("gateway~infra~gw", "0.0.0.0_8080"));
  assert.deepEqual(filters.map((f) => f.name), ["envoy.filters.http.rbac.deny"]);
  assert.equal(await statusOf(filters, { method: "GET", remoteAddress: "8.8.8.8" }), 200);
  assert.equal(await statusOf(filters, { method: "DELETE", remoteAddress: "8.8.8.8" }), 403);
  assert.equal(await statusOf(filters, { method: "DELETE", remoteAddress: "192.168.4.4" }), 200);
});

test("an ALLOW policy without rules denies everything", async () => {
  const x = await xdsOf(`${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 8080, protocol: HTTP }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: nothing, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  action: ALLOW
`);
  const filters = chain(x.httpFilters("gateway~infra~gw", "0.0.0.0_8080"));
  assert.equal(await statusOf(filters, {}), 403);
});

test("permissions: each kind matches and does not match", async () => {
  const cases: [string, Obj, RequestSpec, RequestSpec][] = [
    ["any", { any: true }, {}, {}],
    ["header exact", { header: { name: "x-a", stringMatch: { exact: "1" } } }, { headers: { "x-a": "1" } }, { headers: { "x-a": "2" } }],
    ["header several values joined", { header: { name: "x-a", stringMatch: { exact: "1,2" } } }, { headers: { "x-a": ["1", "2"] } }, { headers: { "x-a": "1" } }],
    ["header present", { header: { name: "x-a", presentMatch: true } }, { headers: { "x-a": "" } }, {}],
    ["header absent (present false)", { header: { name: "x-a", presentMatch: false } }, {}, { headers: { "x-a": "v" } }],
    ["header invert", { header: { name: "x-a", stringMatch: { prefix: "ab" }, invertMatch: true } }, { headers: { "x-a": "xy" } }, { headers: { "x-a": "abc" } }],
    ["header invert, absent header never matches", { header: { name: "x-a", stringMatch: { exact: "1" }, invertMatch: true } }, { headers: { "x-a": "2" } }, {}],
    ["header missing as empty", { header: { name: "x-a", stringMatch: { exact: "" }, treatMissingHeaderAsEmpty: true } }, {}, { headers: { "x-a": "1" } }],
    ["header regex (full match)", { header: { name: "x-a", safeRegexMatch: { regex: "v[0-9]+" } } }, { headers: { "x-a": "v12" } }, { headers: { "x-a": "v12x" } }],
    ["header range", { header: { name: "x-n", rangeMatch: { start: 10, end: 20 } } }, { headers: { "x-n": "19" } }, { headers: { "x-n": "20" } }],
    [":method", { header: { name: ":method", stringMatch: { exact: "PUT" } } }, { method: "PUT" }, { method: "GET" }],
    [":path (with query)", { header: { name: ":path", stringMatch: { suffix: "?debug=1" } } }, { path: "/a?debug=1" }, { path: "/a" }],
    [":authority", { header: { name: ":authority", stringMatch: { contains: "shop" } } }, { authority: "www.shop.example" }, { authority: "www.example" }],
    ["urlPath exact", { urlPath: { path: { exact: "/a/b" } } }, { path: "/a/b?q=1" }, { path: "/a/b/c" }],
    ["urlPath ignoreCase", { urlPath: { path: { prefix: "/API/", ignoreCase: true } } }, { path: "/api/x" }, { path: "/apix" }],
    ["urlPath regex", { urlPath: { path: { safeRegex: { regex: "/v[12]/.*" } } } }, { path: "/v2/x" }, { path: "/v3/x" }],
    ["andRules", { andRules: { rules: [{ header: { name: ":method", stringMatch: { exact: "GET" } } }, { urlPath: { path: { prefix: "/a" } } }] } }, { path: "/a" }, { method: "POST", path: "/a" }],
    ["orRules", { orRules: { rules: [{ urlPath: { path: { exact: "/x" } } }, { urlPath: { path: { exact: "/y" } } }] } }, { path: "/y" }, { path: "/z" }],
    ["notRule", { notRule: { urlPath: { path: { exact: "/x" } } } }, { path: "/y" }, { path: "/x" }],
    ["destinationPort", { destinationPort: 9443 }, { localPort: 9443 }, { localPort: 9444 }],
    ["destinationPortRange", { destinationPortRange: { start: 9000, end: 9100 } }, { localPort: 9099 }, { localPort: 9100 }],
    ["destinationIp v4", { destinationIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 24 } } }, { localAddress: "10.0.0.9" }, { localAddress: "10.0.1.9" }],
    ["destinationIp v6", { destinationIp: { addressPrefix: "fd00::", prefixLen: { value: 64 } } }, { localAddress: "fd00::1" }, { localAddress: "fd00:0:0:1::1" }],
    ["requestedServerName", { requestedServerName: { suffix: ".shop.example" } }, { tls: { serverName: "api.shop.example" } }, { tls: { serverName: "api.example" } }],
    [
      "metadata",
      { metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "jwt_payload" }, { key: "scope" }], value: { stringMatch: { contains: "write" } } } },
      { metadata: new Map([["envoy.filters.http.jwt_authn", { jwt_payload: { scope: "read write" } }]]) },
      { metadata: new Map([["envoy.filters.http.jwt_authn", { jwt_payload: { scope: "read" } }]]) },
    ],
  ];
  for (const [name, permission, yes, no] of cases) {
    const filters = allowIf(permission);
    assert.equal(await statusOf(filters, yes), 200, `${name}: should match`);
    if (name !== "any") assert.equal(await statusOf(filters, no), 403, `${name}: should not match`);
  }
});

test("principals: each kind matches and does not match", async () => {
  const jwt = (payload: Obj) => new Map([["envoy.filters.http.jwt_authn", { jwt_payload: payload }]]);
  const claim = (key: string, value: Obj) => ({ metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "jwt_payload" }, { key }], value } });
  const cases: [string, Obj, RequestSpec, RequestSpec][] = [
    ["authenticated (any certificate)", { authenticated: {} }, { tls: { peerSpiffeId: "spiffe://a/ns/x/sa/y" } }, { tls: { serverName: "x" } }],
    ["authenticated principalName exact", { authenticated: { principalName: { exact: "spiffe://a/ns/x/sa/y" } } }, { tls: { peerSpiffeId: "spiffe://a/ns/x/sa/y" } }, { tls: { peerSpiffeId: "spiffe://a/ns/x/sa/z" } }],
    ["authenticated principalName regex", { authenticated: { principalName: { safeRegex: { regex: ".*/ns/prod/.*" } } } }, { tls: { peerSpiffeId: "spiffe://a/ns/prod/sa/y" } }, { tls: { peerSpiffeId: "spiffe://a/ns/dev/sa/y" } }],
    ["authenticated DNS SAN", { authenticated: { principalName: { exact: "client.example" } } }, { tls: { peerSubjectAltName: "DNS:client.example" } }, { tls: { peerSubjectAltName: "DNS:other.example" } }],
    ["directRemoteIp", { directRemoteIp: { addressPrefix: "2001:db8::", prefixLen: { value: 32 } } }, { remoteAddress: "2001:db8:1::5" }, { remoteAddress: "2001:db9::5" }],
    ["sourceIp", { sourceIp: { addressPrefix: "172.16.0.0", prefixLen: { value: 12 } } }, { remoteAddress: "172.31.1.1" }, { remoteAddress: "172.32.1.1" }],
    ["remoteIp (x-forwarded-for)", { remoteIp: { addressPrefix: "203.0.113.0", prefixLen: { value: 24 } } }, { remoteAddress: "10.0.0.1", headers: { "x-forwarded-for": "203.0.113.9" } }, { remoteAddress: "203.0.113.9", headers: { "x-forwarded-for": "10.0.0.1" } }],
    ["remoteIp (no header: the peer)", { remoteIp: { addressPrefix: "203.0.113.0", prefixLen: { value: 24 } } }, { remoteAddress: "203.0.113.9" }, { remoteAddress: "10.0.0.1" }],
    ["header", { header: { name: "x-user", stringMatch: { exact: "alice" } } }, { headers: { "x-user": "alice" } }, { headers: { "x-user": "bob" } }],
    ["urlPath", { urlPath: { path: { prefix: "/public/" } } }, { path: "/public/a" }, { path: "/private/a" }],
    ["andIds", { andIds: { ids: [{ header: { name: "x-a", presentMatch: true } }, { header: { name: "x-b", presentMatch: true } }] } }, { headers: { "x-a": "1", "x-b": "1" } }, { headers: { "x-a": "1" } }],
    ["orIds", { orIds: { ids: [{ header: { name: "x-a", presentMatch: true } }, { header: { name: "x-b", presentMatch: true } }] } }, { headers: { "x-b": "1" } }, { headers: { "x-c": "1" } }],
    ["notId", { notId: { header: { name: "x-a", presentMatch: true } } }, {}, { headers: { "x-a": "1" } }],
    ["metadata stringMatch", claim("sub", { stringMatch: { exact: "alice" } }), { metadata: jwt({ sub: "alice" }) }, { metadata: jwt({ sub: "bob" }) }],
    ["metadata listMatch", claim("groups", { listMatch: { oneOf: { stringMatch: { exact: "admin" } } } }), { metadata: jwt({ groups: ["dev", "admin"] }) }, { metadata: jwt({ groups: ["dev"] }) }],
    ["metadata listMatch on a string", claim("groups", { listMatch: { oneOf: { stringMatch: { exact: "admin" } } } }), { metadata: jwt({ groups: ["admin"] }) }, { metadata: jwt({ groups: "admin" }) }],
    ["metadata presentMatch", claim("sub", { presentMatch: true }), { metadata: jwt({ sub: "x" }) }, { metadata: jwt({}) }],
    ["metadata no metadata at all", claim("sub", { presentMatch: true }), { metadata: jwt({ sub: "x" }) }, {}],
    ["metadata boolMatch", claim("email_verified", { boolMatch: true }), { metadata: jwt({ email_verified: true }) }, { metadata: jwt({ email_verified: "true" }) }],
    ["metadata doubleMatch", claim("level", { doubleMatch: { range: { start: 2, end: 5 } } }), { metadata: jwt({ level: 4 }) }, { metadata: jwt({ level: 5 }) }],
  ];
  for (const [name, principal, yes, no] of cases) {
    const filters = allowIf({ any: true }, principal);
    assert.equal(await statusOf(filters, yes), 200, `${name}: should match`);
    assert.equal(await statusOf(filters, no), 403, `${name}: should not match`);
  }
});

test("a policy needs a matching permission and a matching principal", async () => {
  const filters = chain([rbac("DENY", [{ urlPath: { path: { prefix: "/admin" } } }], [{ remoteIp: { addressPrefix: "0.0.0.0", prefixLen: { value: 0 } } }]), ROUTER]);
  assert.equal(await statusOf(filters, { path: "/admin/x", remoteAddress: "1.2.3.4" }), 403);
  assert.equal(await statusOf(filters, { path: "/admin/x", remoteAddress: "::1" }), 200, "an IPv4 range never matches an IPv6 client");
  assert.equal(await statusOf(filters, { path: "/user", remoteAddress: "1.2.3.4" }), 200);
});

test("gRPC requests are denied with PERMISSION_DENIED", async () => {
  const filters = chain([rbac("DENY", [{ any: true }]), ROUTER]);
  const r = await run(filters, ctxOf({ headers: { "content-type": "application/grpc" } }));
  assert.equal(r.action, "respond");
  assert.equal(r.action === "respond" && r.status, 200);
  assert.equal(r.action === "respond" && r.headers?.["grpc-status"], "7");
});

test("configs the proxy cannot honour are refused, naming the filter and the field", () => {
  const refuses = (filters: Obj[], pattern: RegExp) =>
    assert.throws(
      () => compileHttpFilters(filters),
      (e: unknown) => e instanceof ProxyFilterUnsupportedError && e.code === "ERR_PROXY_FILTER_UNSUPPORTED" && pattern.test(e.message),
    );
  refuses([rbac("ALLOW", [{ uriTemplate: {} }]), ROUTER], /envoy\.filters\.http\.rbac: rules\.policies\.p\.permissions\[0\]\.uriTemplate/);
  refuses([rbac("ALLOW", [{ any: true }], [{ filterState: {} }]), ROUTER], /principals\[0\]\.filterState/);
  refuses([rbac("ALLOW", [{ urlPath: { path: { safeRegex: { regex: "(" } } } }]), ROUTER], /urlPath\.path\.safeRegex\.regex/);
  refuses([rbac("ALLOW", [{ destinationIp: { addressPrefix: "10.0.0.300" } }]), ROUTER], /destinationIp\.addressPrefix/);
  refuses([{ name: "x", typedConfig: { "@type": RBAC, rules: { action: "ALLOW" }, matcher: {} } }, ROUTER], /http filter x: matcher/);
  refuses([{ name: "envoy.filters.http.cors", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } }, ROUTER], /envoy\.filters\.http\.cors: typedConfig\.@type/);
  refuses([rbac("ALLOW", [{ any: true }])], /must end with the router/);
  // An optional filter the proxy does not know is skipped.
  assert.deepEqual(compileHttpFilters([{ name: "opt", isOptional: true, typedConfig: { "@type": "type.googleapis.com/x.Y" } }, ROUTER]), []);
});

test("no rules: no policy applies", async () => {
  assert.equal(await statusOf(chain([{ name: "r", typedConfig: { "@type": RBAC } }, ROUTER]), {}), 200);
});
