// The rate limit service's configuration must hold a limit for exactly the descriptors the
// routes send. Each case sends requests through the route's encoded rate limit actions
// (evaluated here as Envoy evaluates them) and looks the descriptors up in the produced
// configuration (as envoyproxy/ratelimit matches them).

import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import type { IrGlobalRateLimit, IrRateLimitRule, IrRoute, IrSnapshot } from "../../src/ir/index.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { rateLimitServiceConfig, rateLimitServiceConfigYaml, type RateLimitServiceDescriptor, type RateLimitServiceDomain } from "../../src/xds/rate-limit-service-config.js";
import { routeConfiguration } from "../../src/xds/resources/route-configuration.js";
import { hcm, simpleRoute, table } from "./resources/fixtures.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Request {
  readonly headers?: Record<string, string>;
  readonly method?: string;
  readonly path?: string;
  readonly remote?: string;
}

function snapshot(routes: IrRoute[], listenerLimit?: IrGlobalRateLimit): IrSnapshot {
  const t = table("gw", routes);
  const filters = { globalRateLimit: { ...(listenerLimit ?? { domain: "meshgate", rules: [] }), serviceCluster: "meshgate|ratelimit" } };
  return {
    version: 1,
    proxies: [
      {
        id: "gateway~infra~gw",
        role: "gateway",
        namespace: "infra",
        name: "gw",
        listeners: [{ kind: "socket", name: "l", address: "0.0.0.0", port: 80, direction: "gateway", filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("gw", { filters }) }] }],
        routeTables: ["gw"],
        clusters: [],
        secrets: [],
      },
    ],
    routeTables: new Map([[t.name, t]]),
    clusters: new Map(),
  };
}

const rule = (id: string, over: Partial<IrRateLimitRule> = {}): IrRateLimitRule => ({ id, clientSelectors: [], requests: 10, unit: "Second", ...over });
const limited = (name: string, domain: string, rules: IrRateLimitRule[]): IrRoute => simpleRoute(name, "web", { globalRateLimit: { domain, rules } });

/** The route as Envoy receives it (encoded and decoded). */
function envoyRoute(ir: IrSnapshot, name: string, listenerLimit?: IrGlobalRateLimit): Obj {
  const json = routeConfiguration(ir.routeTables.get("gw")!, { grpc: false, listenerGlobalRateLimit: listenerLimit });
  const decoded = decodeResource(TYPE_URLS.route, encodeResource(TYPE_URLS.route, json)) as Obj;
  return decoded.virtualHosts[0].routes.find((r: Obj) => r.name === name);
}

function ipv4(address: string): number {
  return address.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** What Envoy sends for one request: the domain and one descriptor per rate limit whose actions all produce an entry. */
function descriptorsOf(route: Obj, req: Request, filterDomain = "meshgate"): { domain: string; descriptors: { key: string; value: string }[][] } {
  const headers: Record<string, string> = { ":method": req.method ?? "GET", ":path": req.path ?? "/", ...(req.headers ?? {}) };
  const matches = (m: Obj): boolean => {
    const v = headers[m.name];
    if (v === undefined) return false;
    if (m.stringMatch.exact !== undefined) return v === m.stringMatch.exact;
    return new RegExp(`^(?:${m.stringMatch.safeRegex.regex})$`).test(v);
  };
  const descriptors: { key: string; value: string }[][] = [];
  for (const rl of route.route.rateLimits ?? []) {
    if ((rl.stage?.value ?? 0) !== 0) continue;
    const entries: { key: string; value: string }[] = [];
    let complete = true;
    for (const a of rl.actions) {
      if (a.genericKey) entries.push({ key: a.genericKey.descriptorKey, value: a.genericKey.descriptorValue });
      else if (a.headerValueMatch) {
        const expect = a.headerValueMatch.expectMatch?.value ?? true;
        if (a.headerValueMatch.headers.every(matches) === expect) entries.push({ key: a.headerValueMatch.descriptorKey, value: a.headerValueMatch.descriptorValue });
        else complete = false;
      } else if (a.requestHeaders) {
        const v = headers[a.requestHeaders.headerName];
        if (v === undefined) complete = false;
        else entries.push({ key: a.requestHeaders.descriptorKey, value: v });
      } else if (a.maskedRemoteAddress) {
        const len = a.maskedRemoteAddress.v4PrefixMaskLen?.value ?? 32;
        const n = len === 0 ? 0 : (ipv4(req.remote!) & (~0 << (32 - len))) >>> 0;
        entries.push({ key: "masked_remote_address", value: `${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".")}/${len}` });
      } else if (a.remoteAddress) entries.push({ key: "remote_address", value: req.remote! });
      else throw new Error(`action not simulated: ${JSON.stringify(a)}`);
    }
    if (complete) descriptors.push(entries);
  }
  return { domain: route.typedPerFilterConfig?.["envoy.filters.http.ratelimit"]?.domain ?? filterDomain, descriptors };
}

/** The service's lookup: per entry the child with that key and value, else the one with the key and no value. */
function limitFor(config: RateLimitServiceDomain[], domain: string, entries: { key: string; value: string }[]): string | undefined {
  let level: readonly RateLimitServiceDescriptor[] | undefined = config.find((d) => d.domain === domain)?.descriptors;
  let node: RateLimitServiceDescriptor | undefined;
  for (const e of entries) {
    node = level?.find((d) => d.key === e.key && d.value === e.value) ?? level?.find((d) => d.key === e.key && d.value === undefined);
    if (!node) return undefined;
    level = node.descriptors;
  }
  return node?.rate_limit ? `${node.rate_limit.requests_per_unit}/${node.rate_limit.unit}` : undefined;
}

/** The limits a request runs into, one per descriptor sent (undefined: sent, but no limit found). */
function limitsHit(ir: IrSnapshot, routeName: string, req: Request): (string | undefined)[] {
  const { domain, descriptors } = descriptorsOf(envoyRoute(ir, routeName), req);
  const config = rateLimitServiceConfig(ir);
  return descriptors.map((d) => limitFor(config, domain, d));
}

test("Exact and RegularExpression headers (also inverted): a limit for every request the rule counts", () => {
  const ir = snapshot([
    limited("r", "infra/p", [
      rule("infra/p/rule/0", { clientSelectors: [{ headers: [{ name: "x-tier", kind: "Exact", value: "free" }] }], requests: 10, unit: "Second" }),
      rule("infra/p/rule/1", { clientSelectors: [{ headers: [{ name: "x-client", kind: "RegularExpression", value: "bot-.*", invert: true }] }], requests: 50, unit: "Minute" }),
    ]),
  ]);
  assert.deepEqual(limitsHit(ir, "r", { headers: { "x-tier": "free", "x-client": "bot-7" } }), ["10/second"]);
  assert.deepEqual(limitsHit(ir, "r", { headers: { "x-tier": "gold", "x-client": "human" } }), ["50/minute"]);
  assert.deepEqual(rateLimitServiceConfig(ir), [
    {
      domain: "infra/p",
      descriptors: [
        { key: "rule", value: "infra/p/rule/0", descriptors: [{ key: "header.x-tier", value: "match", rate_limit: { unit: "second", requests_per_unit: 10 } }] },
        { key: "rule", value: "infra/p/rule/1", descriptors: [{ key: "header.x-client", value: "match", rate_limit: { unit: "minute", requests_per_unit: 50 } }] },
      ],
    },
  ]);
});

test("a Distinct header is a key without a value: every value finds the limit (and counts on its own)", () => {
  const ir = snapshot([limited("r", "infra/p", [rule("infra/p/rule/0", { clientSelectors: [{ headers: [{ name: "x-user", kind: "Distinct" }] }], requests: 3, unit: "Hour" })])]);
  assert.deepEqual(limitsHit(ir, "r", { headers: { "x-user": "alice" } }), ["3/hour"]);
  assert.deepEqual(limitsHit(ir, "r", { headers: { "x-user": "bob" } }), ["3/hour"]);
  // Without the header Envoy sends nothing for the rule.
  assert.deepEqual(limitsHit(ir, "r", {}), []);
  const [node] = rateLimitServiceConfig(ir)[0]!.descriptors[0]!.descriptors!;
  assert.deepEqual(node, { key: "header.x-user", rate_limit: { unit: "hour", requests_per_unit: 3 } });
});

test("source CIDR: the network as Envoy masks it (even written with host bits), Distinct per address", () => {
  const ir = snapshot([
    limited("r", "infra/p", [
      rule("infra/p/rule/0", { clientSelectors: [{ headers: [], sourceCidr: { cidr: "10.1.7.0/16", distinct: false } }], requests: 100, unit: "Second" }),
      rule("infra/p/rule/1", { clientSelectors: [{ headers: [], sourceCidr: { cidr: "192.168.0.0/16", distinct: true } }], requests: 5, unit: "Second" }),
    ]),
  ]);
  // Envoy sends both descriptors for every client (the masked address always exists);
  // only the one whose network holds the client finds a limit.
  assert.deepEqual(limitsHit(ir, "r", { remote: "10.1.2.3" }), ["100/second", undefined]);
  assert.deepEqual(limitsHit(ir, "r", { remote: "192.168.4.4" }), [undefined, "5/second"]);
  const rule1 = rateLimitServiceConfig(ir)[0]!.descriptors[1]!;
  assert.deepEqual(rule1.descriptors, [{ key: "masked_remote_address", value: "192.168.0.0/16", descriptors: [{ key: "remote_address", rate_limit: { unit: "second", requests_per_unit: 5 } }] }]);
});

test("methods and path selectors: limited when both match, not otherwise", () => {
  const ir = snapshot([
    limited("r", "infra/p", [rule("infra/p/rule/0", { clientSelectors: [{ headers: [], methods: ["POST", "PUT"], path: { kind: "PathPrefix", value: "/api" } }], requests: 7, unit: "Day" })]),
  ]);
  assert.deepEqual(limitsHit(ir, "r", { method: "POST", path: "/api/orders?x=1" }), ["7/day"]);
  assert.deepEqual(limitsHit(ir, "r", { method: "GET", path: "/api/orders" }), []);
  assert.deepEqual(limitsHit(ir, "r", { method: "PUT", path: "/apix" }), []);
  assert.deepEqual(rateLimitServiceConfig(ir)[0]!.descriptors[0]!.descriptors, [
    { key: "method", value: "match", descriptors: [{ key: "path", value: "match", rate_limit: { unit: "day", requests_per_unit: 7 } }] },
  ]);
});

test("every domain, sorted; a shared rule appears once; a rule with no selectors limits every request", () => {
  const shared = rule("infra/b/rule/0", { requests: 1000, unit: "Minute" });
  const ir = snapshot([limited("r1", "infra/b", [shared]), limited("r2", "infra/b", [shared]), limited("r3", "infra/a", [rule("infra/a/rule/0/httproute/infra/r3")])]);
  const config = rateLimitServiceConfig(ir);
  assert.deepEqual(config.map((d) => d.domain), ["infra/a", "infra/b"]);
  assert.deepEqual(config[1]!.descriptors, [{ key: "rule", value: "infra/b/rule/0", rate_limit: { unit: "minute", requests_per_unit: 1000 } }]);
  assert.deepEqual(limitsHit(ir, "r2", {}), ["1000/minute"]);
  assert.deepEqual(limitsHit(ir, "r3", {}), ["10/second"]);
  assert.deepEqual(rateLimitServiceConfig(ir), config);
});

test("listener-wide rules are counted in the domain the route sends (the filter's when the route names none)", () => {
  const listener: IrGlobalRateLimit = { domain: "infra/p", rules: [rule("infra/p/rule/9", { requests: 99 })] };
  const ir = snapshot([limited("own", "infra/p", [rule("infra/p/rule/0")]), simpleRoute("plain", "web")], listener);
  const config = rateLimitServiceConfig(ir);
  assert.deepEqual(config.map((d) => d.domain), ["infra/p"]);
  assert.deepEqual(config[0]!.descriptors.map((d) => d.value), ["infra/p/rule/0", "infra/p/rule/9"]);
  const own = descriptorsOf(envoyRoute(ir, "own", listener), {}, listener.domain);
  assert.equal(own.domain, "infra/p");
  assert.deepEqual(own.descriptors.map((d) => limitFor(config, own.domain, d)), ["10/second", "99/second"]);
  const plain = descriptorsOf(envoyRoute(ir, "plain", listener), {}, listener.domain);
  assert.deepEqual(plain.descriptors.map((d) => limitFor(config, plain.domain, d)), ["99/second"]);
});

test("no global limits: no configuration; YAML text as the service reads it", () => {
  assert.deepEqual(rateLimitServiceConfig(snapshot([simpleRoute("plain", "web")])), []);
  const ir = snapshot([limited("r", "infra/p", [rule("infra/p/rule/0", { clientSelectors: [{ headers: [{ name: "x-user", kind: "Distinct" }] }] })])]);
  const [domain] = rateLimitServiceConfig(ir);
  const text = rateLimitServiceConfigYaml(domain!);
  assert.deepEqual(parse(text), { domain: "infra/p", descriptors: [{ key: "rule", value: "infra/p/rule/0", descriptors: [{ key: "header.x-user", rate_limit: { unit: "second", requests_per_unit: 10 } }] }] });
  assert.match(text, /requests_per_unit: 10/);
});
