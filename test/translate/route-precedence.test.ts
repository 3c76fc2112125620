import { test } from "node:test";
import assert from "node:assert/strict";
import { ANY_HOST, GW_TABLE, HTTP_GW, httpRoute, irOf, order, service, table, vhost } from "./helpers.js";
import { comparePrecedence, type PrecedenceKey } from "../../src/translate/route-precedence.js";

const be = service("infra", "v1");
const rule = (match: string) => `    - matches: [${match}]
      backendRefs: [{ name: v1, port: 8080 }]
`;

function ordered(yaml: string): string[] {
  return order(vhost(table(irOf(HTTP_GW + be + service("apps", "v1") + yaml), GW_TABLE), ANY_HOST));
}

test("across routes: Exact > RegularExpression > longest PathPrefix > method > most headers > most query params", () => {
  const names = ordered(
    httpRoute("a-prefix-short", rule("{ path: { type: PathPrefix, value: /a } }")) +
      httpRoute("b-prefix-long", rule("{ path: { type: PathPrefix, value: /a/b/c } }")) +
      httpRoute("c-exact", rule("{ path: { type: Exact, value: /a } }")) +
      httpRoute("d-regex", rule(`{ path: { type: RegularExpression, value: "/a/.*" } }`)) +
      httpRoute("e-method", rule("{ path: { type: PathPrefix, value: /a }, method: GET }")) +
      httpRoute("f-headers-2", rule("{ path: { type: PathPrefix, value: /a }, headers: [{ name: x, value: '1' }, { name: y, value: '2' }] }")) +
      httpRoute("g-headers-1", rule("{ path: { type: PathPrefix, value: /a }, headers: [{ name: x, value: '1' }] }")) +
      httpRoute("h-query", rule("{ path: { type: PathPrefix, value: /a }, queryParams: [{ name: q, value: '1' }] }")) +
      httpRoute("i-method-headers", rule("{ path: { type: PathPrefix, value: /a }, method: GET, headers: [{ name: x, value: '1' }] }")) +
      httpRoute("j-default", "    - backendRefs: [{ name: v1, port: 8080 }]\n"),
  );
  assert.deepEqual(
    names.map((n) => n.split("/")[2]),
    ["c-exact", "d-regex", "b-prefix-long", "i-method-headers", "e-method", "f-headers-2", "g-headers-1", "h-query", "a-prefix-short", "j-default"],
  );
});

test("ties: the oldest route first, then namespace/name, then rule order, then match order", () => {
  const same = "{ path: { type: PathPrefix, value: /same } }";
  const names = ordered(
    httpRoute("zz-old", rule(same), { created: "2020-09-08T01:02:03Z" }) +
      httpRoute("aa-new", rule(same), { created: "2020-09-08T01:02:04Z" }) +
      httpRoute("mm-untimed", rule(same)) +
      httpRoute("bb", rule(same), { namespace: "apps" }) +
      httpRoute("cc-rules", rule(same) + `    - matches: [${same}, ${same}]
      backendRefs: [{ name: v1, port: 8080 }]
`, { namespace: "apps" }),
  );
  assert.deepEqual(names, [
    "httproute/infra/zz-old/rule/0/match/0",
    "httproute/infra/aa-new/rule/0/match/0",
    // Without a timestamp: after those with one, by namespace/name ("apps" < "infra").
    "httproute/apps/bb/rule/0/match/0",
    "httproute/apps/cc-rules/rule/0/match/0",
    "httproute/apps/cc-rules/rule/1/match/0",
    "httproute/apps/cc-rules/rule/1/match/1",
    "httproute/infra/mm-untimed/rule/0/match/0",
  ]);
});

test("GRPCRoute keys: service length, then method length, then headers; GRPCRoutes sort before HTTPRoutes", () => {
  const origin = { created: undefined, name: "ns/r", rule: 0, match: 0 };
  const g = (serviceLength: number, methodLength: number, headers: number): PrecedenceKey => ({ rank: { kind: "GRPCRoute", serviceLength, methodLength, headers }, origin });
  const http: PrecedenceKey = { rank: { kind: "HTTPRoute", pathRank: 0, pathLength: 50, method: true, headers: 3, queryParams: 0 }, origin };
  const keys = { long: g(10, 0, 0), methodLong: g(5, 6, 0), method: g(5, 3, 0), headers: g(5, 3, 2), http };
  const sorted = Object.entries(keys).sort(([, a], [, b]) => comparePrecedence(a, b)).map(([k]) => k);
  assert.deepEqual(sorted, ["long", "methodLong", "headers", "method", "http"]);
});
