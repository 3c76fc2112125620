// Global rate limits end to end, as `meshgate up --redis` runs them: the embedded control
// plane compiles a BackendTrafficPolicy (rateLimit.type Global), starts the rate limit
// service and feeds it the limits; the gateway proxy's ratelimit filter calls it over
// gRPC; counters live in a real redis-server. Also: a changed limit takes effect without
// a restart, Redis going away lets requests through (logged, not per request) and its
// return enforces the limits again, and without Redis a warning says they are not enforced.

import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { serviceYaml, startEcho } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness, waitFor, type GatewayHarness } from "../helpers/gateway-harness.js";
import { startRedis } from "../helpers/redis.js";

const HOUR_MS = 3_600_000;

function config(port: number, backendPort: number, requests: number): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners: [{ name: http, port: ${port}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      backendRefs: [{ name: app, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /other } }]
      backendRefs: [{ name: app, port: 80 }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: api-limits, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{ headers: [{ name: x-user, type: Distinct }] }]
          limit: { requests: ${requests}, unit: Hour }
${serviceYaml("infra", "app", 80, [{ port: backendPort }])}`;
}

async function send(port: number, path: string, user: string) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { "x-user": user } });
  await res.body.text();
  return { status: res.statusCode, headers: res.headers };
}

let users = 0;
/**
 * `count` requests to /api as one fresh user (its own counter), all in one hourly window:
 * if the window turned over meanwhile (counters restart), the burst is repeated.
 */
async function burst(port: number, count: number): Promise<{ statuses: number[]; first: Awaited<ReturnType<typeof send>>; last: Awaited<ReturnType<typeof send>> }> {
  for (;;) {
    const window = Math.floor(Date.now() / HOUR_MS);
    const user = `user-${process.pid}-${++users}`;
    const responses: Awaited<ReturnType<typeof send>>[] = [];
    for (let i = 0; i < count; i++) responses.push(await send(port, "/api/items", user));
    if (Math.floor(Date.now() / HOUR_MS) === window) return { statuses: responses.map((r) => r.status), first: responses[0]!, last: responses[responses.length - 1]! };
  }
}

const expected = (allowed: number, limited: number) => [...Array<number>(allowed).fill(200), ...Array<number>(limited).fill(429)];

interface RateLimitDump {
  running: boolean;
  address: string;
  redis?: string;
  redisReady?: boolean;
  policies: string[];
  note?: string;
}

async function dump(h: GatewayHarness): Promise<RateLimitDump> {
  const d = (await (await fetch(`${h.runtime.adminUrl}/config_dump`)).json()) as { rateLimitService: RateLimitDump };
  return d.rateLimitService;
}

test("a Global limit of N per window: N requests pass, then 429; a changed limit applies without restart; Redis away fails open, Redis back enforces again", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const backend = await startEcho(t, "app");
  const port = await freePort();
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, backend.port, 3), rateLimit: { redisUrl: redis.url } });
  await waitFor(() => h.runtime.rateLimits.status().redisReady === true, 10_000, "the rate limit service to connect to Redis");

  const status = await dump(h);
  assert.equal(status.running, true);
  assert.equal(status.redis, redis.url);
  assert.equal(status.redisReady, true);
  assert.deepEqual(status.policies, ["infra/api-limits"]);

  // N = 3 per hour and per x-user value.
  const first = await burst(port, 5);
  assert.deepEqual(first.statuses, expected(3, 2));
  // Allowed responses carry the quota too, counting down; only the limited ones say x-envoy-ratelimited.
  assert.equal(first.first.headers["x-ratelimit-limit"], "3, 3;w=3600");
  assert.equal(first.first.headers["x-ratelimit-remaining"], "2");
  assert.equal(first.first.headers["x-envoy-ratelimited"], undefined);
  assert.equal(first.last.headers["x-envoy-ratelimited"], "true");
  assert.equal(first.last.headers["x-ratelimit-limit"], "3, 3;w=3600");
  assert.equal(first.last.headers["x-ratelimit-remaining"], "0");
  const reset = Number(first.last.headers["x-ratelimit-reset"]);
  assert.ok(reset >= 1 && reset <= 3600, `x-ratelimit-reset is the seconds left in the window: ${String(first.last.headers["x-ratelimit-reset"])}`);
  assert.equal(backend.requests.length, 3, "limited requests never reach the backend");
  // Other users have their own counters; routes without a limit are not counted.
  assert.deepEqual((await burst(port, 1)).statuses, [200]);
  for (let i = 0; i < 5; i++) assert.equal((await send(port, "/other", "busy")).status, 200);

  // The limit is raised in the file: the running service and gateway pick it up.
  await h.write(config(port, backend.port, 5));
  assert.deepEqual((await burst(port, 7)).statuses, expected(5, 2));
  assert.ok(h.logs.some((l) => l.includes("rate limit service limits updated")), "the new limits are logged");

  // Redis goes away: the service fails open, and says so a bounded number of times.
  await redis.stop();
  await waitFor(() => h.runtime.rateLimits.status().redisReady === false, 10_000, "the service to notice Redis is gone");
  const before = h.logs.length;
  assert.deepEqual((await burst(port, 10)).statuses, expected(10, 0), "requests pass while Redis is away");
  const failOpen = (lines: string[]) => lines.filter((l) => l.includes("fail open") && l.includes('"level":50'));
  assert.ok(failOpen(h.logs).length >= 1, `the outage is logged: ${h.logs.slice(-10).join("\n")}`);
  assert.ok(failOpen(h.logs.slice(before)).length <= 1, `ten requests log at most one line: ${failOpen(h.logs.slice(before)).join("\n")}`);
  assert.equal((await dump(h)).redisReady, false, "/config_dump shows Redis unreachable");

  // Redis is back (empty, on the same address): the limits apply again.
  const back = await startRedis(redis.port);
  t.after(() => back.stop());
  await waitFor(() => h.runtime.rateLimits.status().redisReady === true, 15_000, "the service to reconnect to Redis");
  assert.deepEqual((await burst(port, 6)).statuses, expected(5, 1));
  assert.ok(h.logs.some((l) => l.includes("Redis reachable again")), "the recovery is logged");
});

test("without Redis: global limits are not enforced, requests pass, and one warning names the policy and how to enforce it", async (t) => {
  const backend = await startEcho(t, "app");
  const port = await freePort();
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, backend.port, 2), rateLimit: {} });
  const warnings = () => h.logs.filter((l) => l.includes("global rate limits are NOT enforced"));
  assert.equal(warnings().length, 1, h.logs.join("\n"));
  const w = JSON.parse(warnings()[0]!) as { level: number; policies: string[]; msg: string };
  assert.equal(w.level, 40);
  assert.deepEqual(w.policies, ["infra/api-limits"]);
  assert.match(w.msg, /--redis redis:\/\/HOST:PORT/);
  assert.match(w.msg, /MESHGATE_REDIS_URL/);

  const status = await dump(h);
  assert.equal(status.running, false);
  assert.deepEqual(status.policies, ["infra/api-limits"]);
  assert.match(status.note!, /not enforced/);
  assert.equal(h.runtime.rateLimits.describe(), "Global rate limits: not enforced (no --redis given; requests pass)");

  assert.deepEqual((await burst(port, 4)).statuses, expected(4, 0), "fail open");
  // A change that keeps the same policy does not repeat the warning.
  await h.write(config(port, backend.port, 3));
  assert.equal(warnings().length, 1);
});
