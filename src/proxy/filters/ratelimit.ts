// envoy.filters.http.ratelimit: global rate limits. The route's rate limits at the filter's
// stage produce descriptors; the Rate Limit Service (gRPC ShouldRateLimit) counts them
// across every proxy and answers OK or OVER_LIMIT. The service being unreachable or slow
// lets the request through unless failureModeDeny is set.

import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "../../telemetry/logger.js";
import type { RlsResponse, RlsUnit } from "../../xds/rate-limit-service-wire.js";
import type { EnvoyResource, FilterContext, FilterResult, HeaderMap, HttpFilter } from "../contracts.js";
import { bool, ConfigPath, durationMsOr, FILTER_CONFIG, num, type Obj, object, str } from "../config-reader.js";
import { unwrapFilterConfig } from "./config.js";
import { descriptorsFor } from "./descriptors.js";
import { CONTINUE, localReply } from "./local-reply.js";

export const RATE_LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const NAME = "envoy.filters.http.ratelimit";
/** Envoy's default when the filter config gives no timeout. */
const DEFAULT_TIMEOUT_MS = 20;

export type RateLimitServiceResolver = (clusterName: string) => { host: string; port: number } | undefined;

const identity = (b: Buffer) => b;

// The gRPC client and the protobuf codec cost a worker ~20 MB; most gateways have no global
// rate limit, so they are loaded when the first ratelimit filter is compiled, not at start.
type RlsDeps = { grpc: typeof grpc; wire: typeof import("../../xds/rate-limit-service-wire.js") };
let rlsDeps: RlsDeps | undefined;
let rlsLoading: Promise<RlsDeps> | undefined;
function loadRlsDeps(): Promise<RlsDeps> {
  rlsLoading ??= Promise.all([import("@grpc/grpc-js"), import("../../xds/rate-limit-service-wire.js")]).then(([g, wire]) => (rlsDeps = { grpc: g, wire }));
  return rlsLoading;
}
const WINDOW_SECONDS: Partial<Record<RlsUnit, number>> = { SECOND: 1, MINUTE: 60, HOUR: 3_600, DAY: 86_400 };

/** One gRPC channel per service address, shared by every request of a filter. */
class RlsClients {
  private readonly clients = new Map<string, grpc.Client>();
  get(g: typeof grpc, host: string, port: number): grpc.Client {
    const key = `${host}:${port}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new g.Client(host.includes(":") ? `[${host}]:${port}` : key, g.credentials.createInsecure());
      this.clients.set(key, c);
    }
    return c;
  }
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

const perRouteDomains = new WeakMap<EnvoyResource, string | undefined>();

/** The domain a route's RateLimitPerRoute names (validated and cached); route compilers may call it to NACK early. */
export function perRouteDomain(config: EnvoyResource, filterName = NAME): string | undefined {
  if (perRouteDomains.has(config)) return perRouteDomains.get(config);
  const where = new ConfigPath(FILTER_CONFIG, filterName, "typedPerFilterConfig");
  const o = object(config, where, ["domain", "vhRateLimits", "overrideOption"]);
  if (o.vhRateLimits !== undefined && o.vhRateLimits !== "OVERRIDE") where.at("vhRateLimits").fail("virtual host rate limits are not supported");
  if (o.overrideOption !== undefined && o.overrideOption !== "DEFAULT") where.at("overrideOption").fail("rate limit overrides are not supported");
  const domain = o.domain === undefined || o.domain === "" ? undefined : str(o.domain, where.at("domain"));
  perRouteDomains.set(config, domain);
  return domain;
}

export function compileRateLimit(name: string, config: Obj, deps: { rateLimitService?: RateLimitServiceResolver; logger?: Logger }): HttpFilter {
  const where = new ConfigPath(FILTER_CONFIG, name, "");
  const o = object(config, where, [
    "domain",
    "stage",
    "requestType",
    "timeout",
    "failureModeDeny",
    "rateLimitedAsResourceExhausted",
    "rateLimitService",
    "enableXRatelimitHeaders",
    "disableXEnvoyRatelimitedHeader",
    "rateLimitedStatus",
    "responseHeadersToAdd",
    "statusOnError",
    "statPrefix",
  ]);
  const domain = str(o.domain, where.at("domain"));
  const stage = num(o.stage, where.at("stage"), 0);
  const requestType = str(o.requestType, where.at("requestType"), "both");
  if (requestType !== "both" && requestType !== "external") where.at("requestType").fail(`${requestType} is not supported`);
  const timeoutMs = durationMsOr(o.timeout, where.at("timeout"), DEFAULT_TIMEOUT_MS);
  const failureModeDeny = bool(o.failureModeDeny, where.at("failureModeDeny"));
  const resourceExhausted = bool(o.rateLimitedAsResourceExhausted, where.at("rateLimitedAsResourceExhausted"));
  const xHeaders = o.enableXRatelimitHeaders ?? "OFF";
  if (xHeaders !== "OFF" && xHeaders !== "DRAFT_VERSION_03") where.at("enableXRatelimitHeaders").fail(`unknown version ${String(xHeaders)}`);
  const noEnvoyHeader = bool(o.disableXEnvoyRatelimitedHeader, where.at("disableXEnvoyRatelimitedHeader"));
  const statusCode = (v: unknown, w: ConfigPath, fallback: number) => (v === undefined ? fallback : num(object(v, w, ["code"]).code, w.at("code"), fallback));
  const limitedStatus = statusCode(o.rateLimitedStatus, where.at("rateLimitedStatus"), 429);
  const errorStatus = statusCode(o.statusOnError, where.at("statusOnError"), 500);
  if (o.responseHeadersToAdd !== undefined) where.at("responseHeadersToAdd").fail("not supported");
  const svc = object(o.rateLimitService, where.at("rateLimitService"), ["grpcService", "transportApiVersion"]);
  if (svc.transportApiVersion !== undefined && svc.transportApiVersion !== "V3") where.at("rateLimitService.transportApiVersion").fail("only V3 is supported");
  const grpcService = object(svc.grpcService, where.at("rateLimitService.grpcService"), ["envoyGrpc", "timeout"]);
  const envoyGrpc = object(grpcService.envoyGrpc, where.at("rateLimitService.grpcService.envoyGrpc"), ["clusterName", "authority"]);
  const cluster = str(envoyGrpc.clusterName, where.at("rateLimitService.grpcService.envoyGrpc.clusterName"));
  const clients = new RlsClients();
  const log = deps.logger;
  void loadRlsDeps().catch(() => undefined); // a failure shows on the first request
  let lastErrorLog = 0;

  function failed(ctx: FilterContext, reason: string): FilterResult {
    // One log line per 10 s: an outage must not flood the log with one line per request.
    const now = Date.now();
    if (log && now - lastErrorLog > 10_000) {
      lastErrorLog = now;
      log.warn({ filter: name, cluster, reason, failureModeDeny }, "rate limit service unavailable");
    }
    return failureModeDeny ? localReply(ctx, errorStatus, "") : CONTINUE;
  }

  /** Headers every answer of the service puts on the response: its own and, if asked, the quota (x-ratelimit-*). */
  function quotaHeaders(r: RlsResponse, headers: HeaderMap): HeaderMap {
    for (const h of r.responseHeadersToAdd ?? []) headers[h.key.toLowerCase()] = h.value;
    if (xHeaders === "DRAFT_VERSION_03") {
      // As Envoy writes them: the limit with the least remaining, then every limit's quota
      // policy (`, <requests>;w=<window seconds>[;name="<name>"]`).
      let tightest: RlsResponse["statuses"][number] | undefined;
      let policies = "";
      for (const s of r.statuses) {
        if (!s.currentLimit) continue;
        if (!tightest || s.limitRemaining < tightest.limitRemaining) tightest = s;
        const window = WINDOW_SECONDS[s.currentLimit.unit];
        if (window) policies += `, ${s.currentLimit.requestsPerUnit};w=${window}${s.currentLimit.name ? `;name="${s.currentLimit.name}"` : ""}`;
      }
      if (tightest?.currentLimit) {
        headers["x-ratelimit-limit"] = `${tightest.currentLimit.requestsPerUnit}${policies}`;
        headers["x-ratelimit-remaining"] = String(tightest.limitRemaining);
        if (tightest.durationUntilResetMs !== undefined) headers["x-ratelimit-reset"] = String(Math.ceil(tightest.durationUntilResetMs / 1000));
      }
    }
    return headers;
  }

  function limited(ctx: FilterContext, r: RlsResponse): FilterResult {
    const headers: HeaderMap = {};
    if (!noEnvoyHeader) headers["x-envoy-ratelimited"] = "true";
    return localReply(ctx, limitedStatus, "", quotaHeaders(r, headers), resourceExhausted ? 8 : undefined);
  }

  /** Allowed: the request goes on with the service's request headers, and the response gets its quota headers. */
  function allowed(ctx: FilterContext, r: RlsResponse): FilterResult {
    for (const h of r.requestHeadersToAdd ?? []) ctx.headers[h.key.toLowerCase()] = h.value;
    if (xHeaders === "DRAFT_VERSION_03" || (r.responseHeadersToAdd?.length ?? 0) > 0) quotaHeaders(r, (ctx.responseHeadersToAdd ??= {}));
    return CONTINUE;
  }

  return {
    name,
    decode(ctx): FilterResult | Promise<FilterResult> {
      const descriptors = descriptorsFor(ctx, stage);
      if (descriptors.length === 0) return CONTINUE;
      const perRoute = unwrapFilterConfig(ctx.routeFilterConfig?.[name]);
      const d = (perRoute && perRouteDomain(perRoute, name)) || domain;
      const target = deps.rateLimitService?.(cluster);
      if (!target) return failed(ctx, `cluster ${cluster} has no endpoint`);
      if (!rlsDeps) return loadRlsDeps().then((l) => ask(ctx, l, d, target, descriptors), (e: Error) => failed(ctx, `rate limit client unavailable: ${e.message}`));
      return ask(ctx, rlsDeps, d, target, descriptors);
    },
    close: () => clients.close(),
  };

  function ask(ctx: FilterContext, { grpc: g, wire }: RlsDeps, d: string, target: { host: string; port: number }, descriptors: ReturnType<typeof descriptorsFor>): Promise<FilterResult> {
    const client = clients.get(g, target.host, target.port);
    const request = wire.encodeRlsRequest({ domain: d, descriptors: descriptors.map((entries) => ({ entries })), hitsAddend: 1 });
    return new Promise<FilterResult>((resolve) => {
      client.makeUnaryRequest(wire.SHOULD_RATE_LIMIT_PATH, identity, identity, request, new g.Metadata(), { deadline: Date.now() + timeoutMs }, (err, value) => {
        if (err || !value) return resolve(failed(ctx, err?.message ?? "empty response"));
        let r: RlsResponse;
        try {
          r = wire.decodeRlsResponse(value);
        } catch (e) {
          return resolve(failed(ctx, `unreadable response: ${(e as Error).message}`));
        }
        resolve(r.overallCode === "OVER_LIMIT" ? limited(ctx, r) : allowed(ctx, r));
      });
    });
  }
}
