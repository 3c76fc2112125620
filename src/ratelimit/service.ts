// meshgate's rate limit service: envoy.service.ratelimit.v3.RateLimitService over gRPC,
// for the limits rateLimitServiceConfig() computes, counted in Redis so several gateways
// (and several instances of this service) share one limit.
//
// Counting: fixed windows aligned to the unit (a second, minute, hour or day starting at
// a multiple of the unit since the epoch), one counter per domain, descriptor values and
// window. A request is over the limit when the count after adding its hits exceeds the
// limit; its hits are counted even then (as envoyproxy/ratelimit does).
//
// Redis unreachable or slow: the service fails open (answers OK for every descriptor)
// and logs an error at most every 10 seconds, and once more when Redis is back. A rate
// limit must not turn a Redis outage into an outage of every route it guards; the
// proxies' failureModeDeny is the place to choose otherwise (it applies when this service
// itself is unreachable).

import * as grpc from "@grpc/grpc-js";
import type { RedisOptions } from "ioredis";
import { RateLimitListenError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { RateLimitServiceDomain } from "../xds/rate-limit-service-config.js";
import { decodeRlsRequest, encodeRlsResponse, loadRlsTypes, rlsServiceDefinition, type RlsDescriptorStatus, type RlsRequest, type RlsResponse, type RlsUnit } from "../xds/rate-limit-service-wire.js";
import { Limits, type Limit } from "./limits.js";
import { RedisCounter, type CounterHit } from "./redis-counter.js";

export interface RateLimitServiceOptions {
  /** Where the counters live: a redis:// URL or ioredis options. */
  readonly redis: string | RedisOptions;
  readonly config?: readonly RateLimitServiceDomain[];
  readonly logger?: Logger;
  /** Prefix of every counter key (default `meshgate:ratelimit:`). */
  readonly keyPrefix?: string;
  /** How long a Redis round trip may take before the service fails open (default 250 ms). */
  readonly redisTimeoutMs?: number;
  /** Wall clock, ms since the epoch (windows are aligned to it). */
  readonly now?: () => number;
}

const UNITS: Record<Limit["unit"], RlsUnit> = { second: "SECOND", minute: "MINUTE", hour: "HOUR", day: "DAY" };
/** Keys outlive their window a little, so a slow clock on one instance still finds them. */
const EXPIRY_MARGIN_MS = 1_000;
const ERROR_LOG_INTERVAL_MS = 10_000;

export class RateLimitService {
  private limits: Limits;
  private readonly counter: RedisCounter;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private server: grpc.Server | undefined;
  private lastErrorLog = 0;
  /** Set while Redis has failed since it last answered; cleared (and logged) when it is back. */
  private failing = false;

  constructor(options: RateLimitServiceOptions) {
    loadRlsTypes();
    this.limits = new Limits(options.config ?? []);
    this.counter = new RedisCounter(options.redis, options.redisTimeoutMs ?? 250);
    this.prefix = options.keyPrefix ?? "meshgate:ratelimit:";
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    this.counter.redis.on("error", (e: Error) => this.logError("Redis unreachable: global rate limits are not enforced, requests pass (fail open)", e));
    this.counter.redis.on("ready", () => {
      if (!this.failing) return;
      this.failing = false;
      // A new outage is then logged at once, not up to 10 s late.
      this.lastErrorLog = 0;
      this.log?.info("Redis reachable again: global rate limits are enforced");
    });
  }

  /** Redis is connected (limits are counted); false while the service fails open. */
  get redisReady(): boolean {
    return this.counter.redis.status === "ready";
  }

  /** Resolves once Redis is connected (the service answers before that too, failing open). */
  ready(): Promise<void> {
    const r = this.counter.redis;
    if (r.status === "ready") return Promise.resolve();
    return new Promise((resolve) => r.once("ready", () => resolve()));
  }

  /** Swaps the limits; requests already being answered finish with the old ones. */
  update(config: readonly RateLimitServiceDomain[]): void {
    this.limits = new Limits(config);
  }

  async shouldRateLimit(req: RlsRequest): Promise<RlsResponse> {
    const limits = this.limits;
    const hits = req.hitsAddend > 0 ? req.hitsAddend : 1;
    const now = this.now();
    const found: { index: number; limit: Limit; windowEnd: number }[] = [];
    const keys: CounterHit[] = [];
    req.descriptors.forEach((d, index) => {
      const limit = limits.lookup(req.domain, d.entries);
      if (!limit) return;
      const windowStart = Math.floor(now / limit.unitMs) * limit.unitMs;
      const windowEnd = windowStart + limit.unitMs;
      found.push({ index, limit, windowEnd });
      keys.push({ key: this.key(req.domain, d.entries, limit, windowStart), ttlMs: windowEnd - now + EXPIRY_MARGIN_MS });
    });
    const statuses: RlsDescriptorStatus[] = req.descriptors.map(() => ({ code: "OK", limitRemaining: 0 }));
    if (found.length === 0) return { overallCode: "OK", statuses };
    let counts: number[];
    try {
      counts = await this.counter.add(keys, hits);
    } catch (e) {
      this.logError("rate limit counters unavailable in Redis: requests pass (fail open)", e as Error);
      return { overallCode: "OK", statuses };
    }
    let over = false;
    found.forEach((f, i) => {
      const count = counts[i] ?? 0;
      const limited = count > f.limit.requestsPerUnit;
      over ||= limited;
      statuses[f.index] = {
        code: limited ? "OVER_LIMIT" : "OK",
        currentLimit: { requestsPerUnit: f.limit.requestsPerUnit, unit: UNITS[f.limit.unit] },
        limitRemaining: Math.max(0, f.limit.requestsPerUnit - count),
        durationUntilResetMs: Math.max(0, f.windowEnd - now),
      };
    });
    return { overallCode: over ? "OVER_LIMIT" : "OK", statuses };
  }

  /** `<prefix><domain, entries as JSON>:<unit>:<window start>`: unambiguous whatever the values hold. */
  private key(domain: string, entries: readonly { key: string; value: string }[], limit: Limit, windowStart: number): string {
    const parts: string[] = [domain];
    for (const e of entries) parts.push(e.key, e.value);
    return `${this.prefix}${JSON.stringify(parts)}:${limit.unit}:${windowStart}`;
  }

  /** Serves gRPC on `host:port` (port 0: any free one); resolves to the bound port. */
  async listen(address = "127.0.0.1:0"): Promise<number> {
    const server = new grpc.Server();
    server.addService(rlsServiceDefinition(), {
      ShouldRateLimit: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        let req: RlsRequest;
        try {
          req = decodeRlsRequest(call.request);
        } catch (e) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `unreadable RateLimitRequest: ${(e as Error).message}` });
          return;
        }
        this.shouldRateLimit(req).then(
          (r) => callback(null, encodeRlsResponse(r)),
          (e: Error) => callback({ code: grpc.status.INTERNAL, details: e.message }),
        );
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new RateLimitListenError(address, err.message, err)) : resolve(p))),
    );
    this.server = server;
    return port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      // Calls in flight get a moment to finish; a proxy holding a call open must not hold up shutdown.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    await this.counter.close();
  }

  private logError(message: string, e: Error): void {
    this.failing = true;
    const now = Date.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLog = now;
    this.log?.error({ err: e.message }, message);
  }
}
