// Global rate limits end to end: BackendTrafficPolicy (type Global) through the translator
// to route rate limit actions, the proxy's ratelimit filter building descriptors and
// calling the real rate limit service over gRPC, counters in a real Redis.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { compileHttpFilters } from "../../../src/proxy/filters/index.js";
import { RateLimitService } from "../../../src/ratelimit/index.js";
import type { HttpFilter } from "../../../src/proxy/contracts.js";
import { startRedis, freePort, type RedisServer } from "../../helpers/redis.js";
import { globalLimitsYaml, limitsOf } from "../../ratelimit/helpers.js";
import { ctxOf, run, xdsOf, type RequestSpec } from "./helpers.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const NODE = "gateway~infra~gw";
const LIMITED_ROUTE = "httproute/infra/api/rule/0/match/0";
const FREE_ROUTE = "httproute/infra/other/rule/0/match/0";
const TABLE = "gateway|infra|gw|8080";

let redis: RedisServer;
const services: RateLimitService[] = [];
const filters: HttpFilter[][] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const f of filters.flat()) f.close?.();
  for (const s of services) await s.close();
  await redis.stop();
});

async function rls(yaml: string, prefix: string): Promise<number> {
  const s = new RateLimitService({ redis: redis.url, config: limitsOf(yaml), keyPrefix: prefix });
  services.push(s);
  await s.ready();
  return s.listen("127.0.0.1:0");
}

function gatewayFilters(httpFilters: Obj[], port: number | undefined): HttpFilter[] {
  const f = compileHttpFilters(httpFilters, { rateLimitService: (cluster) => (cluster === "meshgate|ratelimit" && port !== undefined ? { host: "127.0.0.1", port } : undefined) });
  filters.push(f);
  return f;
}

async function status(chain: readonly HttpFilter[], spec: RequestSpec): Promise<number> {
  const r = await run(chain, ctxOf(spec));
  return r.action === "respond" ? r.status : 200;
}

test("two gateways share one limit through the rate limit service and Redis", async () => {
  const yaml = globalLimitsYaml(3);
  const xds = await xdsOf(yaml);
  const hf = xds.httpFilters(NODE, "0.0.0.0_8080");
  const route = xds.route(NODE, TABLE, LIMITED_ROUTE);
  // Two gateways, each with its own rate limit service instance, one Redis.
  const a = gatewayFilters(hf, await rls(yaml, "shared-gw:"));
  const b = gatewayFilters(hf, await rls(yaml, "shared-gw:"));
  assert.deepEqual(a.map((f) => f.name), ["envoy.filters.http.ratelimit"]);
  const codes = [];
  const remaining: unknown[] = [];
  for (let i = 0; i < 6; i++) {
    const ctx = ctxOf({ route, headers: { "x-user": "alice" }, remoteAddress: "10.1.1.1" });
    const r = await run(i % 2 === 0 ? a : b, ctx);
    codes.push(r.action === "respond" ? r.status : 200);
    remaining.push(r.action === "respond" ? r.headers?.["x-ratelimit-remaining"] : ctx.responseHeadersToAdd?.["x-ratelimit-remaining"]);
  }
  assert.deepEqual(codes, [200, 200, 200, 429, 429, 429]);
  // Allowed requests get the quota on their response too, counting down across both gateways.
  assert.deepEqual(remaining, ["2", "1", "0", "0", "0", "0"]);
  const limited = (await run(a, ctxOf({ route, headers: { "x-user": "alice" } }))) as Obj;
  // x-ratelimit-* as Envoy writes them (the translator asks for DRAFT_VERSION_03, as Envoy Gateway does).
  const reset = Number(limited.headers["x-ratelimit-reset"]);
  assert.ok(reset >= 1 && reset <= 60, `seconds left in the minute: ${String(limited.headers["x-ratelimit-reset"])}`);
  assert.deepEqual(limited, { action: "respond", status: 429, body: "", headers: { "x-envoy-ratelimited": "true", "x-ratelimit-limit": "3, 3;w=60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) } });
  // Another x-user value counts on its own; a request without the header produces no descriptor.
  assert.equal(await status(b, { route, headers: { "x-user": "bob" } }), 200);
  const noHeader = a[0]!.decode(ctxOf({ route }));
  assert.deepEqual(noHeader, { action: "continue" }, "no descriptor: answered at once, without the service");
  // A route without limits never calls the service.
  const free = xds.route(NODE, TABLE, FREE_ROUTE);
  assert.deepEqual(a[0]!.decode(ctxOf({ route: free, headers: { "x-user": "alice" } })), { action: "continue" });
  // gRPC callers get RESOURCE_EXHAUSTED (rateLimitedAsResourceExhausted).
  const g = (await run(a, ctxOf({ route, headers: { "x-user": "alice", "content-type": "application/grpc" } }))) as Obj;
  assert.equal(g.headers["grpc-status"], "8");
});

test("source CIDR and distinct source: one counter per client address inside the range", async () => {
  const yaml = globalLimitsYaml(2, "Minute", "[{ sourceCIDR: { type: Distinct, value: 10.0.0.0/8 } }]");
  const xds = await xdsOf(yaml);
  const chain = gatewayFilters(xds.httpFilters(NODE, "0.0.0.0_8080"), await rls(yaml, "cidr:"));
  const route = xds.route(NODE, TABLE, LIMITED_ROUTE);
  const codes = async (remoteAddress: string, n: number, headers = {}) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await status(chain, { route, remoteAddress, headers }));
    return out;
  };
  assert.deepEqual(await codes("10.0.0.1", 3), [200, 200, 429]);
  assert.deepEqual(await codes("10.0.0.2", 3), [200, 200, 429], "distinct: its own counter");
  assert.deepEqual(await codes("192.168.0.1", 3), [200, 200, 200], "outside the range: no limit");
  assert.deepEqual(await codes("192.168.0.1", 3, { "x-forwarded-for": "10.0.0.1" }), [429, 429, 429], "the original client (x-forwarded-for) is what counts");
});

test("the rate limit service down: requests pass (failureModeDeny false), or get 500 when deny is configured", async () => {
  const yaml = globalLimitsYaml(1);
  const xds = await xdsOf(yaml);
  const hf = xds.httpFilters(NODE, "0.0.0.0_8080");
  const route = xds.route(NODE, TABLE, LIMITED_ROUTE);
  const deadPort = await freePort();
  const open = gatewayFilters(hf, deadPort);
  const started = Date.now();
  for (let i = 0; i < 3; i++) assert.equal(await status(open, { route, headers: { "x-user": "x" } }), 200);
  assert.ok(Date.now() - started < 3_500, "bounded by the filter's timeout");
  assert.equal(await status(gatewayFilters(hf, undefined), { route, headers: { "x-user": "x" } }), 200, "no endpoint for the cluster");

  const denyConfig = hf.map((f: Obj) => (f.name === "envoy.filters.http.ratelimit" ? { ...f, typedConfig: { ...f.typedConfig, failureModeDeny: true } } : f));
  const closed = gatewayFilters(denyConfig, deadPort);
  assert.equal(await status(closed, { route, headers: { "x-user": "x" } }), 500);
});
