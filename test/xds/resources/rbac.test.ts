import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { rbacFilters } from "../../../src/xds/resources/rbac.js";
import { listenerResource } from "../../../src/xds/resources/listener.js";
import { XdsUnsupportedError } from "../../../src/errors.js";
import type { IrAuthorization, IrAuthzRule } from "../../../src/ir/index.js";
import { hcm } from "./fixtures.js";

const ISSUER = "https://idp.example/realm";

/** The RBAC filters as a proxy decodes them (through a real, strictly encoded listener). */
function filters(authz: IrAuthorization, issuers: string[] = [ISSUER]): any[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const jwtAuthn = issuers.length
    ? { providers: issuers.map((issuer, i) => ({ name: `p${i}`, issuer, audiences: [], jwks: { inline: "{}" }, fromHeaders: [], fromParams: [], fromCookies: [], forwardOriginalToken: false, outputClaimToHeaders: [] })) }
    : undefined;
  const l = listenerResource(
    { kind: "socket", name: "l", address: "0.0.0.0", port: 80, direction: "inbound", filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("t", { filters: { authorization: authz, jwtAuthn } }) }] },
    { routesHaveLocalRateLimits: () => false },
  );
  const back = decodeResource(TYPE_URLS.listener, encodeResource(TYPE_URLS.listener, l)) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  return back.filterChains[0].filters[0].typedConfig.httpFilters.filter((f: any) => f.name.startsWith("envoy.filters.http.rbac")); // eslint-disable-line @typescript-eslint/no-explicit-any
}

function onePolicy(rule: IrAuthzRule): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const [f] = filters({ policies: [{ name: "apps/p", action: "ALLOW", rules: [rule] }] });
  return f.typedConfig.rules.policies["apps/p/rule/0"];
}

const jwtMeta = (path: string[], value: object) => ({
  metadata: { filter: "envoy.filters.http.jwt_authn", path: ["jwt_payload", ...path].map((key) => ({ key })), value },
});

test("no ALLOW policy: no ALLOW filter; DENY and AUDIT policies get DENY and LOG filters", () => {
  const f = filters({ policies: [{ name: "apps/d", action: "DENY", rules: [{}] }, { name: "apps/a", action: "AUDIT", rules: [{}] }] });
  assert.deepEqual(f.map((x) => [x.name, x.typedConfig.rules.action]), [["envoy.filters.http.rbac.audit", "LOG"], ["envoy.filters.http.rbac.deny", "DENY"]]);
  assert.deepEqual(f[1].typedConfig.rules.policies["apps/d/rule/0"], { permissions: [{ any: true }], principals: [{ any: true }] });
});

test("an ALLOW policy without rules is a policy that matches nothing (so it denies all unless another allows)", () => {
  const [f] = filters({ policies: [{ name: "apps/deny-all", action: "ALLOW", rules: [] }] });
  assert.equal(f.typedConfig.rules.action, "ALLOW");
  assert.deepEqual(f.typedConfig.rules.policies["apps/deny-all"], { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] });
});

test("one Envoy policy per rule; from entries OR, fields within AND, values OR", () => {
  const [f] = filters({
    policies: [{ name: "apps/p", action: "ALLOW", rules: [{ from: [{ principals: ["mesh.example/ns/a/sa/x"], namespaces: ["b"] }, { ipBlocks: ["10.0.0.0/8", "192.168.1.1"] }] }, { to: [{ methods: ["GET"] }] }] }],
  });
  const policies = f.typedConfig.rules.policies;
  assert.deepEqual(Object.keys(policies), ["apps/p/rule/0", "apps/p/rule/1"]);
  assert.deepEqual(policies["apps/p/rule/0"].principals, [
    {
      andIds: {
        ids: [
          { authenticated: { principalName: { exact: "spiffe://mesh.example/ns/a/sa/x" } } },
          { authenticated: { principalName: { safeRegex: { regex: ".*/ns/b/.*" } } } },
        ],
      },
    },
    { orIds: { ids: [{ directRemoteIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 8 } } }, { directRemoteIp: { addressPrefix: "192.168.1.1", prefixLen: { value: 32 } } }] } },
  ]);
  assert.deepEqual(policies["apps/p/rule/0"].permissions, [{ any: true }]);
  assert.deepEqual(policies["apps/p/rule/1"].permissions, [{ header: { name: ":method", stringMatch: { exact: "GET" } } }]);
});

test("principal patterns: prefix, suffix, any; not* fields negate; remote IPs", () => {
  const p = onePolicy({ from: [{ principals: ["mesh.example/ns/a/*", "*/sa/x", "*"], notNamespaces: ["kube-*"], remoteIpBlocks: ["1.2.3.0/24"], notRemoteIpBlocks: ["1.2.3.4"] }] });
  const ids = p.principals[0].andIds.ids;
  assert.deepEqual(ids[0].orIds.ids, [
    { authenticated: { principalName: { prefix: "spiffe://mesh.example/ns/a/" } } },
    { authenticated: { principalName: { suffix: "/sa/x" } } },
    { authenticated: { principalName: { safeRegex: { regex: ".+" } } } },
  ]);
  assert.deepEqual(ids[1], { notId: { authenticated: { principalName: { safeRegex: { regex: ".*/ns/kube-[^/]*/.*" } } } } });
  assert.deepEqual(ids[2], { remoteIp: { addressPrefix: "1.2.3.0", prefixLen: { value: 24 } } });
  assert.deepEqual(ids[3], { notId: { remoteIp: { addressPrefix: "1.2.3.4", prefixLen: { value: 32 } } } });
});

test("request principals are split against the listener's issuers onto iss and sub of the JWT payload metadata", () => {
  const p = onePolicy({ from: [{ requestPrincipals: [`${ISSUER}/alice`, `${ISSUER}/team-*`, "*"] }] });
  assert.deepEqual(p.principals[0].orIds.ids, [
    { andIds: { ids: [jwtMeta(["iss"], { stringMatch: { exact: ISSUER } }), jwtMeta(["sub"], { stringMatch: { exact: "alice" } })] } },
    { andIds: { ids: [jwtMeta(["iss"], { stringMatch: { exact: ISSUER } }), jwtMeta(["sub"], { stringMatch: { prefix: "team-" } })] } },
    { andIds: { ids: [jwtMeta(["iss"], { presentMatch: true }), jwtMeta(["sub"], { presentMatch: true })] } },
  ]);
});

test("request principal prefix shorter than the issuer matches the issuer; suffixes may reach into the issuer", () => {
  const prefix = onePolicy({ from: [{ requestPrincipals: ["https://idp.example/*"] }] });
  assert.deepEqual(prefix.principals[0], { andIds: { ids: [jwtMeta(["iss"], { stringMatch: { exact: ISSUER } }), jwtMeta(["sub"], { presentMatch: true })] } });
  const suffix = onePolicy({ from: [{ requestPrincipals: ["*realm/bob"] }] });
  assert.deepEqual(suffix.principals[0].orIds.ids, [
    { andIds: { ids: [jwtMeta(["iss"], { stringMatch: { exact: ISSUER } }), jwtMeta(["sub"], { stringMatch: { suffix: "realm/bob" } })] } },
    { andIds: { ids: [jwtMeta(["iss"], { stringMatch: { exact: ISSUER } }), jwtMeta(["sub"], { stringMatch: { exact: "bob" } })] } },
  ]);
});

test("a request principal no provider of the listener can produce never matches", () => {
  const p = onePolicy({ from: [{ requestPrincipals: ["https://elsewhere/alice"] }] });
  assert.deepEqual(p.principals[0], { notId: { any: true } });
  const [f] = filters({ policies: [{ name: "apps/p", action: "ALLOW", rules: [{ from: [{ requestPrincipals: ["x/y"] }] }] }] }, []);
  assert.deepEqual(f.typedConfig.rules.policies["apps/p/rule/0"].principals[0], { notId: { any: true } });
});

test("operations: hosts (any port, case-insensitive), ports, methods, paths and their negations", () => {
  const p = onePolicy({ to: [{ hosts: ["shop.example", "*.example"], notPorts: [8080], methods: ["GET", "HEAD"], paths: ["/api/*", "*.css", "/exact", "*"], notPaths: ["/admin*"] }] });
  const rules = p.permissions[0].andRules.rules;
  assert.deepEqual(rules[0].orRules.rules, [
    { orRules: { rules: [{ header: { name: ":authority", stringMatch: { exact: "shop.example", ignoreCase: true } } }, { header: { name: ":authority", stringMatch: { prefix: "shop.example:", ignoreCase: true } } }] } },
    { header: { name: ":authority", stringMatch: { suffix: ".example", ignoreCase: true } } },
  ]);
  assert.deepEqual(rules[1], { notRule: { destinationPort: 8080 } });
  assert.deepEqual(rules[2].orRules.rules.map((r: any) => r.header.stringMatch.exact), ["GET", "HEAD"]); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(rules[3].orRules.rules, [
    { urlPath: { path: { prefix: "/api/" } } },
    { urlPath: { path: { suffix: ".css" } } },
    { urlPath: { path: { exact: "/exact" } } },
    { urlPath: { path: { safeRegex: { regex: ".+" } } } },
  ]);
  assert.deepEqual(rules[4], { notRule: { urlPath: { path: { prefix: "/admin" } } } });
});

test("when conditions are ANDed into every principal (identity keys) or permission (request keys)", () => {
  const p = onePolicy({
    from: [{ namespaces: ["a"] }, { namespaces: ["b"] }],
    to: [{ ports: [9080] }],
    when: [
      { key: "request.headers[X-Env]", values: ["prod", "stage*"] },
      { key: "source.ip", values: ["10.1.0.0/16"] },
      { key: "source.namespace", notValues: ["test"] },
      { key: "source.principal", values: ["mesh.example/ns/a/sa/x"] },
      { key: "remote.ip", values: ["1.1.1.1"] },
      { key: "request.auth.principal", values: [`${ISSUER}/alice`] },
      { key: "request.auth.audiences", values: ["web"] },
      { key: "request.auth.presenter", values: ["cli"] },
      { key: "request.auth.claims[groups]", values: ["admins"] },
      { key: "request.auth.claims[realm_access][roles]", values: ["ops"] },
      { key: "destination.port", values: ["9080"] },
      { key: "destination.ip", values: ["10.0.1.1"] },
      { key: "connection.sni", values: ["*.shop.example"] },
    ],
  });
  assert.equal(p.principals.length, 2);
  for (const principal of p.principals) {
    const ids = principal.andIds.ids;
    assert.equal(ids.length, 1 + 10);
    assert.deepEqual(ids[1].orIds.ids, [{ header: { name: "x-env", stringMatch: { exact: "prod" } } }, { header: { name: "x-env", stringMatch: { prefix: "stage" } } }]);
    assert.deepEqual(ids[2], { directRemoteIp: { addressPrefix: "10.1.0.0", prefixLen: { value: 16 } } });
    assert.deepEqual(ids[3], { notId: { authenticated: { principalName: { safeRegex: { regex: ".*/ns/test/.*" } } } } });
    assert.deepEqual(ids[4], { authenticated: { principalName: { exact: "spiffe://mesh.example/ns/a/sa/x" } } });
    assert.deepEqual(ids[5], { remoteIp: { addressPrefix: "1.1.1.1", prefixLen: { value: 32 } } });
    assert.deepEqual(ids[6].andIds.ids[1], jwtMeta(["sub"], { stringMatch: { exact: "alice" } }));
    assert.deepEqual(ids[7].orIds.ids, [jwtMeta(["aud"], { stringMatch: { exact: "web" } }), jwtMeta(["aud"], { listMatch: { oneOf: { stringMatch: { exact: "web" } } } })]);
    assert.deepEqual(ids[8].orIds.ids[0], jwtMeta(["azp"], { stringMatch: { exact: "cli" } }));
    assert.deepEqual(ids[9].orIds.ids[1], jwtMeta(["groups"], { listMatch: { oneOf: { stringMatch: { exact: "admins" } } } }));
    assert.deepEqual(ids[10].orIds.ids[0], jwtMeta(["realm_access", "roles"], { stringMatch: { exact: "ops" } }));
  }
  const rules = p.permissions[0].andRules.rules;
  assert.deepEqual(rules, [
    { destinationPort: 9080 },
    { destinationPort: 9080 },
    { destinationIp: { addressPrefix: "10.0.1.1", prefixLen: { value: 32 } } },
    { requestedServerName: { suffix: ".shop.example" } },
  ]);
});

test("a rule with only `when` puts the conditions into a single principal and permission", () => {
  const p = onePolicy({ when: [{ key: "source.ip", values: ["10.0.0.0/8"] }, { key: "destination.port", values: ["80", "443"] }] });
  assert.deepEqual(p.principals, [{ directRemoteIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 8 } } }]);
  assert.deepEqual(p.permissions, [{ orRules: { rules: [{ destinationPort: 80 }, { destinationPort: 443 }] } }]);
});

test("an unknown when key is an error naming the policy", () => {
  assert.throws(
    () => rbacFilters({ policies: [{ name: "apps/p", action: "DENY", rules: [{ when: [{ key: "request.weird", values: ["x"] }] }] }] }, { issuers: [] }),
    (e: unknown) => e instanceof XdsUnsupportedError && /apps\/p when request\.weird/.test(e.message),
  );
});
