// IrRouteTable -> envoy.config.route.v3.RouteConfiguration.
//
// Two forms: the Envoy form, and the gRPC form for tables that proxyless gRPC clients
// read (through an API listener). gRPC rejects a whole route table that uses a path
// match other than prefix/path/safe_regex, a redirect or direct response, or a
// per-filter config it does not know unless marked optional. The gRPC form is valid
// Envoy too (a direct response or redirect becomes a route to a cluster that does not
// exist, answered with clusterNotFoundResponseCode), so a table shared by both kinds of
// clients is served in the gRPC form to all of them.

import { XdsUnsupportedError } from "../../errors.js";
import type {
  IrGlobalRateLimit,
  IrHeaderModifier,
  IrLocalRateLimit,
  IrPathMatch,
  IrPathRewrite,
  IrRetry,
  IrRoute,
  IrRouteAction,
  IrRouteTable,
  IrVirtualHost,
  IrWeightedBackend,
} from "../../ir/index.js";
import { ANY_TYPES, duration, escapeRegex, FILTER_NAMES, stringMatcher, type Json } from "./common.js";
import { GLOBAL_STAGE, LOCAL_STAGE, localRateLimitPerRoute, rateLimitActions } from "./rate-limits.js";

/**
 * The name requests for an invalid backend are sent to. No cluster carries it, so Envoy
 * answers clusterNotFoundResponseCode (500) for that share of requests, as Gateway API
 * requires.
 */
export const MISSING_CLUSTER = "meshgate|invalid-backend";

export interface RouteTableOptions {
  /** Served to proxyless gRPC clients (see above). */
  readonly grpc: boolean;
  /** Limits of the listeners that use this table, applied to every route. */
  readonly listenerLocalRateLimit?: IrLocalRateLimit;
  readonly listenerGlobalRateLimit?: IrGlobalRateLimit;
}

export function routeConfiguration(t: IrRouteTable, options: RouteTableOptions): Json {
  return { name: t.name, virtualHosts: t.virtualHosts.map((vh) => virtualHost(vh, t, options)) };
}

function virtualHost(vh: IrVirtualHost, t: IrRouteTable, options: RouteTableOptions): Json {
  return { name: vh.name, domains: [...vh.domains], routes: vh.routes.map((r) => route(r, `route table ${t.name} route ${r.name}`, options)) };
}

function route(r: IrRoute, where: string, options: RouteTableOptions): Json {
  const out: Json = { name: r.name, match: routeMatch(r, options) };
  const perFilter: Record<string, Json> = {};
  const action = r.action;
  if (action.kind === "forward") {
    out.route = forward(action, r, where, options, perFilter);
  } else if (options.grpc) {
    out.route = { cluster: MISSING_CLUSTER, clusterNotFoundResponseCode: notFoundCode(action.kind === "direct" ? action.status : 500) };
  } else if (action.kind === "redirect") {
    out.redirect = redirect(action, r);
  } else {
    out.directResponse = action.body !== undefined ? { status: action.status, body: { inlineString: action.body } } : { status: action.status };
  }
  addHeaderMutations(out, "request", r.requestHeaders);
  addHeaderMutations(out, "response", r.responseHeaders);
  if (Object.keys(perFilter).length > 0) {
    // gRPC clients skip per-route configs of filters they lack only when marked optional.
    out.typedPerFilterConfig = options.grpc
      ? Object.fromEntries(Object.entries(perFilter).map(([k, v]) => [k, { "@type": ANY_TYPES.filterConfig, config: v, isOptional: true }]))
      : perFilter;
  }
  return out;
}

function notFoundCode(status: number): string {
  return status === 404 ? "NOT_FOUND" : status === 503 ? "SERVICE_UNAVAILABLE" : "INTERNAL_SERVER_ERROR";
}

// ---- match ---------------------------------------------------------------------------

function routeMatch(r: IrRoute, options: RouteTableOptions): Json {
  const m: Json = pathMatch(r.match.path, options.grpc);
  const headers: Json[] = r.match.headers.map((h) => ({ name: h.name, stringMatch: stringMatcher(h) }));
  if (r.match.method) headers.push({ name: ":method", stringMatch: { exact: r.match.method } });
  if (headers.length > 0) m.headers = headers;
  if (r.match.queryParams.length > 0) m.queryParameters = r.match.queryParams.map((q) => ({ name: q.name, stringMatch: stringMatcher(q) }));
  return m;
}

/** Segment-aware prefix without its trailing slashes ("" for `/`). */
const prefixStem = (value: string): string => value.replace(/\/+$/, "");

function pathMatch(p: IrPathMatch, grpc: boolean): Json {
  switch (p.kind) {
    case "Exact":
      return { path: p.value };
    case "RegularExpression":
      return { safeRegex: { regex: p.value } };
    case "PathPrefix": {
      const stem = prefixStem(p.value);
      if (stem === "") return { prefix: "/" };
      // `/foo` matches `/foo` and `/foo/...`, never `/foobar`.
      return grpc ? { safeRegex: { regex: `^${escapeRegex(stem)}(/.*)?$` } } : { pathSeparatedPrefix: stem };
    }
  }
}

// ---- forward -------------------------------------------------------------------------

function forward(a: Extract<IrRouteAction, { kind: "forward" }>, r: IrRoute, where: string, options: RouteTableOptions, perFilter: Record<string, Json>): Json {
  const out: Json = {};
  const valid = a.backends.filter((b) => b.cluster !== undefined);
  const invalidWeight = a.backends.filter((b) => b.cluster === undefined).reduce((s, b) => s + b.weight, 0);
  if (invalidWeight === 0 && valid.length === 1 && !valid[0]!.requestHeaders && !valid[0]!.responseHeaders) {
    out.cluster = valid[0]!.cluster;
  } else {
    const clusters = valid.map(clusterWeight);
    if (invalidWeight > 0) clusters.push({ name: MISSING_CLUSTER, weight: { value: invalidWeight } });
    out.weightedClusters = { clusters };
  }
  if (invalidWeight > 0) out.clusterNotFoundResponseCode = "INTERNAL_SERVER_ERROR";
  if (a.pathRewrite) Object.assign(out, pathRewrite(a.pathRewrite, r.match.path, options.grpc));
  if (a.hostRewrite) out.hostRewriteLiteral = a.hostRewrite;
  if (a.mirrors && a.mirrors.length > 0) {
    out.requestMirrorPolicies = a.mirrors.map((m) =>
      m.percent === undefined || m.percent >= 100
        ? { cluster: m.cluster }
        : { cluster: m.cluster, runtimeFraction: { defaultValue: { numerator: Math.round(m.percent * 10_000), denominator: "MILLION" } } },
    );
  }
  // Without retries the one try is the whole request: the per-try timeout bounds it.
  const perTry = a.retry?.perTryTimeoutMs ?? a.perTryTimeoutMs;
  if (a.retry) {
    out.retryPolicy = retryPolicy(a.retry, perTry);
    if (a.timeoutMs !== undefined) out.timeout = duration(a.timeoutMs);
  } else {
    const bound = Math.min(a.timeoutMs ?? Infinity, a.perTryTimeoutMs ?? Infinity);
    if (bound !== Infinity) out.timeout = duration(bound);
  }
  const rateLimits = routeRateLimits(r, where, options, perFilter);
  if (rateLimits.length > 0) out.rateLimits = rateLimits;
  return out;
}

function clusterWeight(b: IrWeightedBackend): Json {
  const out: Json = { name: b.cluster, weight: { value: b.weight } };
  addHeaderMutations(out, "request", b.requestHeaders);
  addHeaderMutations(out, "response", b.responseHeaders);
  return out;
}

function retryPolicy(r: IrRetry, perTryMs: number | undefined): Json {
  const out: Json = { retryOn: r.on.join(","), numRetries: { value: r.attempts } };
  if (r.statusCodes && r.statusCodes.length > 0) out.retriableStatusCodes = [...r.statusCodes];
  if (perTryMs !== undefined) out.perTryTimeout = duration(perTryMs);
  if (r.backoff) out.retryBackOff = { baseInterval: duration(r.backoff.baseMs), maxInterval: duration(r.backoff.maxMs) };
  return out;
}

/**
 * Gateway API ReplacePrefixMatch: `/foo` -> `/bar` turns `/foo` into `/bar` and `/foo/x`
 * into `/bar/x`; -> `/` turns `/foo/x` into `/x` (never `//x`) and `/foo` into `/`.
 * Trailing slashes of both prefixes do not count.
 */
function pathRewrite(rw: IrPathRewrite, match: IrPathMatch, grpc: boolean): Json {
  if (rw.kind === "ReplaceFullPath") return { regexRewrite: { pattern: { regex: "^/.*$" }, substitution: rw.value } };
  const from = prefixStem(rw.prefix);
  const to = prefixStem(rw.value);
  // A segment-aware prefix match leaves exactly `from` to replace, so Envoy's plain
  // prefix rewrite is right; everything else goes through a regex.
  if (!grpc && from !== "" && to !== "" && match.kind === "PathPrefix" && prefixStem(match.value) === from) return { prefixRewrite: to };
  if (to === "") return { regexRewrite: { pattern: { regex: `^${escapeRegex(from)}/*` }, substitution: "/" } };
  return { regexRewrite: { pattern: { regex: `^${escapeRegex(from)}(/.*)?$` }, substitution: `${to}\\1` } };
}

// ---- redirect ------------------------------------------------------------------------

const REDIRECT_CODES: Record<number, string> = { 301: "MOVED_PERMANENTLY", 302: "FOUND", 303: "SEE_OTHER", 307: "TEMPORARY_REDIRECT", 308: "PERMANENT_REDIRECT" };

function redirect(a: Extract<IrRouteAction, { kind: "redirect" }>, r: IrRoute): Json {
  const out: Json = {};
  if (a.scheme) out.schemeRedirect = a.scheme;
  if (a.hostname) out.hostRedirect = a.hostname;
  if (a.port !== undefined) out.portRedirect = a.port;
  if (a.path) {
    if (a.path.kind === "ReplaceFullPath") out.pathRedirect = a.path.value;
    else Object.assign(out, pathRewrite(a.path, r.match.path, false));
  }
  const code = REDIRECT_CODES[a.statusCode];
  if (!code) throw new XdsUnsupportedError(`route ${r.name}`, `redirect status ${a.statusCode} (301, 302, 303, 307 or 308)`);
  out.responseCode = code;
  return out;
}

// ---- header mutations ----------------------------------------------------------------

function addHeaderMutations(target: Json, side: "request" | "response", m: IrHeaderModifier | undefined): void {
  if (!m) return;
  const add = [
    ...m.set.map((h) => ({ header: { key: h.name, value: h.value }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" })),
    ...m.add.map((h) => ({ header: { key: h.name, value: h.value }, appendAction: "APPEND_IF_EXISTS_OR_ADD" })),
  ];
  if (add.length > 0) target[`${side}HeadersToAdd`] = add;
  if (m.remove.length > 0) target[`${side}HeadersToRemove`] = [...m.remove];
}

// ---- rate limits ---------------------------------------------------------------------

function routeRateLimits(r: IrRoute, where: string, options: RouteTableOptions, perFilter: Record<string, Json>): Json[] {
  const local = [...(r.localRateLimit?.rules ?? []), ...(options.listenerLocalRateLimit?.rules ?? [])];
  const global = [...(r.globalRateLimit?.rules ?? []), ...(options.listenerGlobalRateLimit?.rules ?? [])];
  if (local.length > 0) perFilter[FILTER_NAMES.localRateLimit] = localRateLimitPerRoute(local, where);
  if (r.globalRateLimit && global.length > 0) {
    const listenerDomain = options.listenerGlobalRateLimit?.domain;
    if (listenerDomain !== undefined && listenerDomain !== r.globalRateLimit.domain && options.listenerGlobalRateLimit!.rules.length > 0) {
      throw new XdsUnsupportedError(where, `global rate limits of two domains (${r.globalRateLimit.domain}, ${listenerDomain}) on one route`);
    }
    // The route's own policy names its domain; the listener's filter carries the default.
    perFilter[FILTER_NAMES.rateLimit] = { "@type": ANY_TYPES.rateLimitPerRoute, domain: r.globalRateLimit.domain };
  }
  return [...rateLimitActions(global, GLOBAL_STAGE, false, where), ...rateLimitActions(local, LOCAL_STAGE, true, where)];
}
