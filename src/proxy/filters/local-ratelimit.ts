// envoy.filters.http.local_ratelimit: token buckets in this process. A config (the
// filter's own, or a route's typedPerFilterConfig, which replaces it) holds a default
// bucket and optional descriptor buckets matched against the descriptors the route's
// rate limits produce at the config's stage. Buckets are created once per config object
// and kept in a WeakMap, so every listener using the same route table shares them and a
// new route configuration starts with fresh buckets.

import type { EnvoyResource, FilterContext, FilterResult, HeaderMap, HttpFilter } from "../contracts.js";
import { bool, ConfigPath, durationMsOr, FILTER_CONFIG, list, num, type Obj, object, str, wrapped } from "../config-reader.js";
import { fractionalPercent, unwrapFilterConfig } from "./config.js";
import { descriptorsFor, type Descriptor } from "./descriptors.js";
import { CONTINUE, localReply } from "./local-reply.js";

export const LOCAL_RATE_LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
export const LOCAL_RATE_LIMITED_BODY = "local_rate_limited";
const NAME = "envoy.filters.http.local_ratelimit";

/** Envoy refuses fill intervals under 50 ms. */
const MIN_FILL_INTERVAL_MS = 50;

export class TokenBucket {
  private tokens: number;
  private lastFill: number;
  constructor(
    readonly maxTokens: number,
    readonly tokensPerFill: number,
    readonly fillIntervalMs: number,
    private readonly now: () => number,
  ) {
    this.tokens = maxTokens;
    this.lastFill = now();
  }

  private refill(): void {
    const now = this.now();
    const elapsed = now - this.lastFill;
    if (elapsed < this.fillIntervalMs) return;
    const fills = Math.floor(elapsed / this.fillIntervalMs);
    this.tokens = Math.min(this.maxTokens, this.tokens + fills * this.tokensPerFill);
    this.lastFill += fills * this.fillIntervalMs;
  }

  consume(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  remaining(): number {
    return Math.floor(this.tokens);
  }

  /** Milliseconds until the next fill. */
  resetMs(): number {
    return Math.max(0, this.lastFill + this.fillIntervalMs - this.now());
  }

  /** Tokens per second, to order buckets from the most restrictive. */
  get rate(): number {
    return (this.tokensPerFill * 1000) / this.fillIntervalMs;
  }
}

interface DescriptorBucket {
  readonly entries: readonly { readonly key: string; readonly value: string | undefined }[];
  readonly bucket: TokenBucket;
}

interface HeaderToAdd {
  readonly key: string;
  readonly value: string;
  readonly append: boolean;
}

/** One compiled LocalRateLimit config with its buckets. */
export class LocalLimiter {
  readonly enabled: number;
  readonly enforced: number;
  readonly stage: number;
  readonly status: number;
  readonly defaultBucket: TokenBucket | undefined;
  readonly descriptors: readonly DescriptorBucket[];
  readonly alwaysConsumeDefault: boolean;
  readonly xRateLimitHeaders: boolean;
  readonly responseHeaders: readonly HeaderToAdd[];
  readonly requestHeadersWhenNotEnforced: readonly HeaderToAdd[];
  readonly resourceExhausted: boolean;

  constructor(config: Obj, where: ConfigPath, now: () => number) {
    const o = object(config, where, [
      "statPrefix",
      "status",
      "tokenBucket",
      "filterEnabled",
      "filterEnforced",
      "requestHeadersToAddWhenNotEnforced",
      "responseHeadersToAdd",
      "descriptors",
      "stage",
      "localRateLimitPerDownstreamConnection",
      "enableXRatelimitHeaders",
      "vhRateLimits",
      "alwaysConsumeDefaultTokenBucket",
      "rateLimitedAsResourceExhausted",
    ]);
    if (bool(o.localRateLimitPerDownstreamConnection, where.at("localRateLimitPerDownstreamConnection"))) where.at("localRateLimitPerDownstreamConnection").fail("per-connection buckets are not supported");
    if (o.vhRateLimits !== undefined && o.vhRateLimits !== "OVERRIDE") where.at("vhRateLimits").fail("virtual host rate limits are not supported");
    // Envoy's defaults: a config without filterEnabled limits nothing; one without
    // filterEnforced counts but never refuses.
    this.enabled = fractionalPercent(o.filterEnabled, where.at("filterEnabled"), 0);
    this.enforced = fractionalPercent(o.filterEnforced, where.at("filterEnforced"), 0);
    this.stage = num(o.stage, where.at("stage"), 0);
    this.status = o.status === undefined ? 429 : num(object(o.status, where.at("status"), ["code"]).code, where.at("status.code"), 429);
    this.defaultBucket = o.tokenBucket === undefined ? undefined : bucket(o.tokenBucket, where.at("tokenBucket"), now);
    this.descriptors = list(o.descriptors, where.at("descriptors")).map((d, i) => {
      const w = where.at("descriptors").at(i);
      const x = object(d, w, ["entries", "tokenBucket"]);
      const entries = list(x.entries, w.at("entries")).map((e, j) => {
        const ew = w.at("entries").at(j);
        const eo = object(e, ew, ["key", "value"]);
        return { key: str(eo.key, ew.at("key")), value: eo.value === undefined || eo.value === "" ? undefined : str(eo.value, ew.at("value")) };
      });
      if (entries.length === 0) w.at("entries").fail("a descriptor needs entries");
      return { entries, bucket: bucket(x.tokenBucket, w.at("tokenBucket"), now) };
    });
    if (this.descriptors.length > 0 && !this.defaultBucket) where.at("tokenBucket").fail("descriptors need a default token bucket");
    this.alwaysConsumeDefault = wrapped(o.alwaysConsumeDefaultTokenBucket, where.at("alwaysConsumeDefaultTokenBucket"), (v, w) => bool(v, w), true);
    const x = o.enableXRatelimitHeaders ?? "OFF";
    if (x !== "OFF" && x !== "DRAFT_VERSION_03") where.at("enableXRatelimitHeaders").fail(`unknown version ${String(x)}`);
    this.xRateLimitHeaders = x === "DRAFT_VERSION_03";
    this.responseHeaders = headerOptions(o.responseHeadersToAdd, where.at("responseHeadersToAdd"));
    this.requestHeadersWhenNotEnforced = headerOptions(o.requestHeadersToAddWhenNotEnforced, where.at("requestHeadersToAddWhenNotEnforced"));
    this.resourceExhausted = bool(o.rateLimitedAsResourceExhausted, where.at("rateLimitedAsResourceExhausted"));
  }

  /** The buckets of the configured descriptors this request's descriptors match, most restrictive first. */
  private matched(ds: readonly Descriptor[]): TokenBucket[] | undefined {
    let out: TokenBucket[] | undefined;
    for (const d of this.descriptors) {
      for (const r of ds) {
        if (r.length !== d.entries.length) continue;
        let ok = true;
        for (let i = 0; i < r.length && ok; i++) ok = r[i]!.key === d.entries[i]!.key && (d.entries[i]!.value === undefined || d.entries[i]!.value === r[i]!.value);
        if (ok) {
          (out ??= []).push(d.bucket);
          break;
        }
      }
    }
    return out && out.length > 1 ? out.sort((a, b) => a.rate - b.rate) : out;
  }

  decode(ctx: FilterContext): FilterResult {
    if (this.enabled <= 0 || (this.enabled < 1 && Math.random() >= this.enabled)) return CONTINUE;
    if (!this.defaultBucket) return CONTINUE;
    const matched = this.descriptors.length > 0 ? this.matched(descriptorsFor(ctx, this.stage)) : undefined;
    // Like Envoy: matched buckets in order (one empty bucket limits the request), then the
    // default bucket unless a descriptor matched and alwaysConsumeDefault is off.
    let limitedBy: TokenBucket | undefined;
    if (matched) {
      for (const b of matched) {
        if (!b.consume()) {
          limitedBy = b;
          break;
        }
      }
    }
    if (!limitedBy && (!matched || this.alwaysConsumeDefault) && !this.defaultBucket.consume()) limitedBy = this.defaultBucket;
    if (!limitedBy) {
      // Allowed: the quota headers name the bucket closest to running out.
      if (this.xRateLimitHeaders) quotaHeaders(tightest(matched, !matched || this.alwaysConsumeDefault ? this.defaultBucket : undefined), (ctx.responseHeadersToAdd ??= {}));
      return CONTINUE;
    }
    const enforced = this.enforced >= 1 || (this.enforced > 0 && Math.random() < this.enforced);
    if (!enforced) {
      for (const h of this.requestHeadersWhenNotEnforced) setHeader(ctx.headers, h);
      return CONTINUE;
    }
    const headers: HeaderMap = {};
    for (const h of this.responseHeaders) setHeader(headers, h);
    if (this.xRateLimitHeaders) quotaHeaders(limitedBy, headers);
    return localReply(ctx, this.status, LOCAL_RATE_LIMITED_BODY, headers, this.resourceExhausted ? 8 : undefined);
  }
}

/** x-ratelimit-* (draft-polli-ratelimit-headers-03) for one bucket. */
function quotaHeaders(b: TokenBucket, headers: HeaderMap): void {
  headers["x-ratelimit-limit"] = String(b.maxTokens);
  headers["x-ratelimit-remaining"] = String(b.remaining());
  headers["x-ratelimit-reset"] = String(Math.ceil(b.resetMs() / 1000));
}

/** Of the buckets a request drew from, the one with the fewest tokens left. */
function tightest(matched: readonly TokenBucket[] | undefined, defaultBucket: TokenBucket | undefined): TokenBucket {
  let t = defaultBucket ?? matched![0]!;
  for (const b of matched ?? []) if (b.remaining() < t.remaining()) t = b;
  return t;
}

function bucket(value: unknown, where: ConfigPath, now: () => number): TokenBucket {
  const o = object(value, where, ["maxTokens", "tokensPerFill", "fillInterval"]);
  const max = num(o.maxTokens, where.at("maxTokens"));
  const perFill = wrapped(o.tokensPerFill, where.at("tokensPerFill"), (v, w) => num(v, w, 1), 1);
  const interval = durationMsOr(o.fillInterval, where.at("fillInterval"));
  if (max < 1) where.at("maxTokens").fail("must be at least 1");
  if (interval < MIN_FILL_INTERVAL_MS) where.at("fillInterval").fail(`must be at least ${MIN_FILL_INTERVAL_MS} ms`);
  return new TokenBucket(max, perFill, interval, now);
}

export function headerOptions(value: unknown, where: ConfigPath): HeaderToAdd[] {
  return list(value, where).map((h, i) => {
    const w = where.at(i);
    const o = object(h, w, ["header", "append", "appendAction", "keepEmptyValue"]);
    const hv = object(o.header, w.at("header"), ["key", "value"]);
    const action = o.appendAction ?? (wrapped(o.append, w.at("append"), (v, x) => bool(v, x), true) ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD");
    if (action !== "APPEND_IF_EXISTS_OR_ADD" && action !== "OVERWRITE_IF_EXISTS_OR_ADD") w.at("appendAction").fail(`${String(action)} is not supported`);
    return { key: str(hv.key, w.at("header.key")).toLowerCase(), value: str(hv.value, w.at("header.value"), ""), append: action === "APPEND_IF_EXISTS_OR_ADD" };
  });
}

export function setHeader(headers: HeaderMap, h: HeaderToAdd): void {
  const cur = headers[h.key];
  if (!h.append || cur === undefined) headers[h.key] = h.value;
  else headers[h.key] = Array.isArray(cur) ? [...cur, h.value] : [cur, h.value];
}

const limiters = new WeakMap<EnvoyResource, LocalLimiter>();
const MONOTONIC = (): number => performance.now();

/**
 * The limiter (with its buckets) for a LocalRateLimit config object, created on first use.
 * Route compilers may call it at config time to NACK an unusable per-route config.
 */
export function localLimiterFor(config: EnvoyResource, filterName = NAME, now: () => number = MONOTONIC): LocalLimiter {
  let l = limiters.get(config);
  if (!l) {
    l = new LocalLimiter(config, new ConfigPath(FILTER_CONFIG, filterName, ""), now);
    limiters.set(config, l);
  }
  return l;
}

export function compileLocalRateLimit(name: string, config: Obj, now?: () => number): HttpFilter {
  const own = localLimiterFor(config, name, now);
  return {
    name,
    decode(ctx) {
      const perRoute = unwrapFilterConfig(ctx.routeFilterConfig?.[name]);
      return (perRoute ? localLimiterFor(perRoute, name, now) : own).decode(ctx);
    },
  };
}
