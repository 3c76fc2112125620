// The rate limit service against a real Redis: limits from the translator's
// configuration, fixed windows, counters shared between service instances, live config
// swaps, failing open while Redis is away, and the gRPC protocol itself.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { RateLimitService } from "../../src/ratelimit/index.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { decodeRlsResponse, encodeRlsRequest, SHOULD_RATE_LIMIT_PATH, type RlsRequest } from "../../src/xds/rate-limit-service-wire.js";
import { startRedis, type RedisServer } from "../helpers/redis.js";
import { globalLimitsYaml, limitsOf } from "./helpers.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

const DOMAIN = "infra/api-limits";
const config = limitsOf(globalLimitsYaml(3));
const ruleId = config[0]!.descriptors[0]!.value!;
const request = (user: string, hits = 0): RlsRequest => ({ domain: DOMAIN, descriptors: [{ entries: [{ key: "rule", value: ruleId }, { key: "header.x-user", value: user }] }], hitsAddend: hits });

let prefixes = 0;
/** Each test counts under its own key prefix, so tests never share counters. */
function service(options: Partial<ConstructorParameters<typeof RateLimitService>[0]> & { prefix?: string } = {}): RateLimitService {
  return new RateLimitService({ redis: redis.url, config, keyPrefix: options.prefix ?? `test${++prefixes}:`, ...options });
}

test("the translator's limits: exactly N per window and per distinct value, then OVER_LIMIT", async () => {
  assert.equal(config[0]!.domain, DOMAIN);
  const s = service();
  await s.ready();
  const codes: string[] = [];
  for (let i = 0; i < 5; i++) codes.push((await s.shouldRateLimit(request("alice"))).overallCode);
  assert.deepEqual(codes, ["OK", "OK", "OK", "OVER_LIMIT", "OVER_LIMIT"]);
  const bob = await s.shouldRateLimit(request("bob"));
  assert.equal(bob.overallCode, "OK", "each x-user value has its own counter");
  assert.equal(bob.statuses[0]!.limitRemaining, 2);
  assert.deepEqual(bob.statuses[0]!.currentLimit, { requestsPerUnit: 3, unit: "MINUTE" });
  assert.ok(bob.statuses[0]!.durationUntilResetMs! > 0 && bob.statuses[0]!.durationUntilResetMs! <= 60_000);
  // hitsAddend counts several hits at once.
  assert.equal((await s.shouldRateLimit(request("carol", 3))).overallCode, "OK");
  assert.equal((await s.shouldRateLimit(request("carol"))).overallCode, "OVER_LIMIT");
  await s.close();
});

test("descriptors without a limit, unknown domains and partial matches are not limited", async () => {
  const s = service();
  await s.ready();
  const none = await s.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: [{ key: "rule", value: "other" }] }], hitsAddend: 1 });
  assert.deepEqual(none, { overallCode: "OK", statuses: [{ code: "OK", limitRemaining: 0 }] });
  assert.equal((await s.shouldRateLimit({ ...request("x"), domain: "nope" })).overallCode, "OK");
  // The limit sits at the header level: the rule entry alone has none.
  const partial = await s.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: [{ key: "rule", value: ruleId }] }], hitsAddend: 1 });
  assert.equal(partial.statuses[0]!.currentLimit, undefined);
  // Several descriptors: each gets its status, one over the limit makes the whole answer OVER_LIMIT.
  for (let i = 0; i < 3; i++) await s.shouldRateLimit(request("dave"));
  const mixed = await s.shouldRateLimit({ domain: DOMAIN, descriptors: [request("erin").descriptors[0]!, request("dave").descriptors[0]!], hitsAddend: 1 });
  assert.equal(mixed.overallCode, "OVER_LIMIT");
  assert.deepEqual(mixed.statuses.map((x) => x.code), ["OK", "OVER_LIMIT"]);
  await s.close();
});

test("windows are fixed and aligned: a new minute starts a new count", async () => {
  let now = Date.UTC(2030, 0, 1, 12, 0, 10);
  const s = service({ now: () => now });
  await s.ready();
  for (let i = 0; i < 3; i++) assert.equal((await s.shouldRateLimit(request("a"))).overallCode, "OK");
  now += 45_000; // 12:00:55, same window
  const late = await s.shouldRateLimit(request("a"));
  assert.equal(late.overallCode, "OVER_LIMIT");
  assert.equal(late.statuses[0]!.durationUntilResetMs, 5_000);
  now += 10_000; // 12:01:05
  assert.equal((await s.shouldRateLimit(request("a"))).overallCode, "OK");
  await s.close();
});

test("two service instances on one Redis share one limit", async () => {
  const a = service({ prefix: "shared:" });
  const b = service({ prefix: "shared:" });
  await Promise.all([a.ready(), b.ready()]);
  const codes = [];
  for (let i = 0; i < 6; i++) codes.push((await (i % 2 === 0 ? a : b).shouldRateLimit(request("zed"))).overallCode);
  assert.deepEqual(codes, ["OK", "OK", "OK", "OVER_LIMIT", "OVER_LIMIT", "OVER_LIMIT"]);
  await a.close();
  await b.close();
});

test("update swaps the limits live", async () => {
  const s = service();
  await s.ready();
  assert.equal((await s.shouldRateLimit(request("u"))).overallCode, "OK");
  s.update(limitsOf(globalLimitsYaml(1)));
  assert.equal((await s.shouldRateLimit(request("u"))).overallCode, "OVER_LIMIT");
  s.update([]);
  assert.equal((await s.shouldRateLimit(request("u"))).overallCode, "OK", "no limits, nothing limited");
  await s.close();
});

test("Redis down: the service fails open and logs an error (not per request), then logs and counts again once Redis is back", async () => {
  const own = await startRedis();
  const lines: string[] = [];
  const logger = createLogger({ format: "json", destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const s = new RateLimitService({ redis: own.url, config, logger, keyPrefix: "down:" });
  await s.ready();
  for (let i = 0; i < 3; i++) await s.shouldRateLimit(request("v"));
  assert.equal((await s.shouldRateLimit(request("v"))).overallCode, "OVER_LIMIT");
  await own.stop();
  const started = Date.now();
  const r = await s.shouldRateLimit(request("v"));
  assert.equal(r.overallCode, "OK", "fail open");
  assert.ok(Date.now() - started < 1_000, "without waiting for Redis");
  assert.ok(lines.some((l) => /"level":50/.test(l) && l.includes("fail open")), `an error is logged: ${lines.join("")}`);
  assert.equal(s.redisReady, false);
  // Many requests during the outage add no log line each (one per 10 s at most).
  const logged = lines.length;
  for (let i = 0; i < 20; i++) assert.equal((await s.shouldRateLimit(request("v"))).overallCode, "OK");
  assert.equal(lines.length, logged, "no log line per request");
  const back = await startRedis(own.port);
  await s.ready();
  assert.equal(s.redisReady, true);
  assert.ok(lines.some((l) => /"level":30/.test(l) && l.includes("Redis reachable again")), `the recovery is logged: ${lines.join("")}`);
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await s.shouldRateLimit(request("v"))).overallCode);
  assert.deepEqual(codes, ["OK", "OK", "OK", "OVER_LIMIT"], "a fresh Redis counts from zero");
  await s.close();
  await back.stop();
});

test("gRPC: envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit", async () => {
  const s = service();
  await s.ready();
  const port = await s.listen("127.0.0.1:0");
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (req: RlsRequest) =>
    new Promise<ReturnType<typeof decodeRlsResponse>>((resolve, reject) =>
      client.makeUnaryRequest(SHOULD_RATE_LIMIT_PATH, (b: Buffer) => b, (b: Buffer) => b, encodeRlsRequest(req), (err, v) => (err ? reject(err) : resolve(decodeRlsResponse(v!)))),
    );
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await call(request("g"))).overallCode);
  assert.deepEqual(codes, ["OK", "OK", "OK", "OVER_LIMIT"]);
  // A malformed request is refused as such.
  await assert.rejects(
    new Promise((resolve, reject) => client.makeUnaryRequest(SHOULD_RATE_LIMIT_PATH, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0xff]), (err, v) => (err ? reject(err) : resolve(v)))),
    (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
  );
  client.close();
  await s.close();
});

test("listening on an address in use fails with ERR_RATELIMIT_LISTEN", async () => {
  const a = service();
  const port = await a.listen("127.0.0.1:0");
  const b = service();
  await assert.rejects(b.listen(`127.0.0.1:${port}`), (e: Error & { code?: string }) => e.code === "ERR_RATELIMIT_LISTEN");
  await a.close();
  await b.close();
});
