// A route's action (RouteAction, RedirectAction, DirectResponseAction) compiled into the
// decision the router hands out, plus what each action needs per request: cluster
// picking, path rewriting and redirect locations.

import type { EnvoyResource, HeaderMap, RetryPolicy } from "../contracts.js";
import { anyObject, bool, list, nonNegativeDurationMs, numeric, object, onlyFields, optStr, str, wrappedBool, wrappedNumeric, type ConfigPath, type Obj } from "../config-reader.js";
import { mergeLevels, type LevelOps, levelOps } from "./header-mutations.js";
import { Re2Error, regexRewrite } from "./re2.js";
import type {
  ClusterPicker,
  DirectDecision,
  ForwardDecision,
  HeaderMutations,
  HostRewrite,
  PathRewrite,
  PickedCluster,
  RedirectDecision,
  RequestMirror,
  RouteInput,
} from "./route-decision.js";

/** What the levels above a route contribute (compiled once per table / virtual host). */
export interface Inherited {
  readonly virtualHostName: string;
  readonly mostSpecificWins: boolean;
  /** Virtual host level first, then route configuration level. */
  readonly requestLevels: readonly LevelOps[];
  readonly responseLevels: readonly LevelOps[];
  /** Table < virtual host, already merged. */
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
  /** The most specific non-empty mirror list above the route. */
  readonly mirrors: readonly RequestMirror[];
  readonly retry: RetryPolicy | undefined;
  readonly rateLimits: readonly EnvoyResource[] | undefined;
  readonly random: () => number;
}

/** How much of the path a route's match covers: what prefix_rewrite replaces (-1: all). */
export type MatchedLength = number;

export const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_BACKOFF_BASE_MS = 25;

const NOT_FOUND_CODES: Record<string, number> = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 };
const REDIRECT_CODES: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };
const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** retry_on conditions meshgate's upstream module implements (Envoy's HTTP and gRPC ones). */
export const RETRY_ON = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

const FILTER_CONFIG_TYPE = "type.googleapis.com/envoy.config.route.v3.FilterConfig";

// ---- shared pieces ---------------------------------------------------------------------

/** typedPerFilterConfig (Any values; FilterConfig wrappers, as gRPC-form tables carry, unwrapped). */
export function filterConfigs(v: unknown, where: ConfigPath): Record<string, EnvoyResource> | undefined {
  if (v === undefined) return undefined;
  const m = anyObject(v, where);
  const out: Record<string, EnvoyResource> = {};
  for (const [name, raw] of Object.entries(m)) {
    const at = where.key(name);
    const any = anyObject(raw, at);
    if (typeof any["@type"] !== "string") at.fail("expected a typed config (@type)");
    if (any["@type"] === FILTER_CONFIG_TYPE) {
      onlyFields(any, at, ["@type", "config", "isOptional"]);
      out[name] = anyObject(any.config, at.at("config"));
    } else {
      out[name] = any;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Most specific wins per filter name. */
export function mergeFilterConfigs(general: Readonly<Record<string, EnvoyResource>> | undefined, specific: Readonly<Record<string, EnvoyResource>> | undefined): Readonly<Record<string, EnvoyResource>> | undefined {
  if (!specific) return general;
  if (!general) return Object.freeze(specific);
  return Object.freeze({ ...general, ...specific });
}

export function mirrorPolicies(v: unknown, where: ConfigPath): RequestMirror[] {
  return list(v, where).map((raw, i) => {
    const at = where.at(i);
    const m = object(raw, at, ["cluster", "runtimeFraction", "disableShadowHostSuffixAppend"], ["traceSampled"]);
    const cluster = str(m.cluster, at.at("cluster"));
    if (cluster === "") at.at("cluster").fail("must not be empty");
    let fraction = 1;
    if (m.runtimeFraction !== undefined) {
      const rf = anyObject(m.runtimeFraction, at.at("runtimeFraction"));
      // No runtime here: the default value is the value.
      onlyFields(rf, at.at("runtimeFraction"), ["defaultValue"], ["runtimeKey"]);
      const dv = object(rf.defaultValue ?? {}, at.at("runtimeFraction.defaultValue"), ["numerator", "denominator"]);
      const denominator = DENOMINATORS[str(dv.denominator ?? "HUNDRED", at.at("runtimeFraction.defaultValue.denominator"))];
      if (!denominator) return at.at("runtimeFraction.defaultValue.denominator").fail(`unknown denominator ${JSON.stringify(dv.denominator)}`);
      fraction = Math.min(1, numeric(dv.numerator, at.at("runtimeFraction.defaultValue.numerator")) / denominator);
    }
    return Object.freeze({ cluster, fraction, shadowHostSuffix: !bool(m.disableShadowHostSuffixAppend, at.at("disableShadowHostSuffixAppend")) });
  });
}

export function retryPolicy(v: unknown, where: ConfigPath): RetryPolicy {
  const m = object(v, where, ["retryOn", "numRetries", "perTryTimeout", "retriableStatusCodes", "retryBackOff"]);
  const retryOn = [...new Set((optStr(m.retryOn, where.at("retryOn")) ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
  for (const c of retryOn) if (!RETRY_ON.has(c)) where.at("retryOn").fail(`retry condition ${JSON.stringify(c)} is not supported`);
  const numRetries = wrappedNumeric(m.numRetries, where.at("numRetries")) ?? 1;
  const perTry = m.perTryTimeout === undefined ? 0 : nonNegativeDurationMs(m.perTryTimeout, where.at("perTryTimeout"));
  const codes = list(m.retriableStatusCodes, where.at("retriableStatusCodes")).map((c, i) => {
    const n = numeric(c, where.at("retriableStatusCodes").at(i));
    if (n < 100 || n > 599) where.at("retriableStatusCodes").at(i).fail(`${n} is not an HTTP status`);
    return n;
  });
  let base = DEFAULT_BACKOFF_BASE_MS;
  let max = base * 10;
  if (m.retryBackOff !== undefined) {
    const b = object(m.retryBackOff, where.at("retryBackOff"), ["baseInterval", "maxInterval"]);
    base = nonNegativeDurationMs(b.baseInterval, where.at("retryBackOff.baseInterval"));
    if (base <= 0) where.at("retryBackOff.baseInterval").fail("must be greater than zero");
    max = b.maxInterval === undefined ? base * 10 : nonNegativeDurationMs(b.maxInterval, where.at("retryBackOff.maxInterval"));
    if (max < base) where.at("retryBackOff.maxInterval").fail("must not be less than baseInterval");
  }
  return Object.freeze({
    retryOn: Object.freeze(retryOn),
    numRetries,
    ...(perTry > 0 ? { perTryTimeoutMs: perTry } : {}),
    retriableStatusCodes: Object.freeze(codes),
    backoffBaseMs: base,
    backoffMaxMs: max,
  });
}

function rewriteRegex(v: unknown, where: ConfigPath): PathRewrite {
  const m = object(v, where, ["pattern", "substitution"]);
  const p = object(m.pattern, where.at("pattern"), ["regex"], ["googleRe2"]);
  const source = str(p.regex, where.at("pattern.regex"));
  try {
    return { kind: "regex", ...regexRewrite(source, str(m.substitution ?? "", where.at("substitution"))) };
  } catch (e) {
    if (e instanceof Re2Error) where.fail(`${JSON.stringify(source)}: ${e.message}`);
    throw e;
  }
}

/** prefixRewrite / regexRewrite of a RouteAction or RedirectAction. */
function pathRewriteOf(m: Obj, matched: MatchedLength, where: ConfigPath): PathRewrite | undefined {
  if (m.prefixRewrite !== undefined && m.regexRewrite !== undefined) where.fail("prefixRewrite and regexRewrite are both set");
  if (m.prefixRewrite !== undefined) return { kind: "prefix", replace: matched, value: str(m.prefixRewrite, where.at("prefixRewrite")) };
  if (m.regexRewrite !== undefined) return rewriteRegex(m.regexRewrite, where.at("regexRewrite"));
  return undefined;
}

/** The request path after a rewrite (query kept as it was). */
export function rewritePath(decision: { readonly pathRewrite: PathRewrite | undefined }, input: { readonly path: string }): string {
  const rw = decision.pathRewrite;
  if (!rw) return input.path;
  const q = input.path.indexOf("?");
  const path = q < 0 ? input.path : input.path.slice(0, q);
  const query = q < 0 ? "" : input.path.slice(q);
  return applyRewrite(rw, path) + query;
}

function applyRewrite(rw: PathRewrite, path: string): string {
  if (rw.kind === "regex") return path.replace(rw.pattern, rw.substitution);
  return rw.replace < 0 ? rw.value : rw.value + path.slice(rw.replace);
}

// ---- forward ---------------------------------------------------------------------------

const ROUTE_ACTION_FIELDS = [
  "cluster",
  "weightedClusters",
  "clusterNotFoundResponseCode",
  "prefixRewrite",
  "regexRewrite",
  "hostRewriteLiteral",
  "autoHostRewrite",
  "timeout",
  "retryPolicy",
  "requestMirrorPolicies",
  "priority",
  "rateLimits",
];

class SinglePicker implements ClusterPicker {
  readonly targets: readonly PickedCluster[];
  readonly total: number;
  constructor(private readonly only: PickedCluster) {
    this.targets = [only];
    this.total = only.weight;
  }
  pick(): PickedCluster {
    return this.only;
  }
}

class WeightedPicker implements ClusterPicker {
  private readonly ends: number[] = [];
  constructor(
    readonly targets: readonly PickedCluster[],
    readonly total: number,
    private readonly random: () => number,
  ) {
    let sum = 0;
    for (const t of targets) this.ends.push((sum += t.weight));
  }
  pick(): PickedCluster {
    // A weight-0 entry owns an empty interval, so it is never chosen.
    const r = Math.floor(this.random() * this.total);
    const ends = this.ends;
    for (let i = 0; i < ends.length; i++) if (r < ends[i]!) return this.targets[i]!;
    return this.targets[this.targets.length - 1]!;
  }
}

export function forwardDecision(route: Obj, routeName: string, matched: MatchedLength, inherited: Inherited, where: ConfigPath): ForwardDecision {
  const a = object(route.route, where.at("route"), ROUTE_ACTION_FIELDS);
  if (a.priority !== undefined && a.priority !== "DEFAULT") where.at("route.priority").fail(`${JSON.stringify(a.priority)} is not supported`);
  const routeReq = levelOps(route, "request", where);
  const routeResp = levelOps(route, "response", where);
  const requestHeaders = mergeLevels([routeReq, ...inherited.requestLevels], inherited.mostSpecificWins);
  const responseHeaders = mergeLevels([routeResp, ...inherited.responseLevels], inherited.mostSpecificWins);
  const filterConfig = mergeFilterConfigs(inherited.filterConfig, filterConfigs(route.typedPerFilterConfig, where.at("typedPerFilterConfig")));

  let hostRewrite: HostRewrite | undefined;
  if (a.hostRewriteLiteral !== undefined) hostRewrite = { kind: "literal", value: str(a.hostRewriteLiteral, where.at("route.hostRewriteLiteral")) };
  if (wrappedBool(a.autoHostRewrite, where.at("route.autoHostRewrite"))) {
    if (hostRewrite) where.at("route").fail("hostRewriteLiteral and autoHostRewrite are both set");
    hostRewrite = { kind: "auto" };
  }

  let clusters: ClusterPicker;
  if ((a.cluster === undefined) === (a.weightedClusters === undefined)) where.at("route").fail("exactly one of cluster and weightedClusters is required");
  if (a.cluster !== undefined) {
    const name = str(a.cluster, where.at("route.cluster"));
    if (name === "") where.at("route.cluster").fail("must not be empty");
    clusters = new SinglePicker(Object.freeze({ name, weight: 1, requestHeaders, responseHeaders, filterConfig, hostRewrite }));
  } else {
    const wc = object(a.weightedClusters, where.at("route.weightedClusters"), ["clusters", "totalWeight"]);
    const targets = list(wc.clusters, where.at("route.weightedClusters.clusters")).map((raw, i) => {
      const at = where.at("route.weightedClusters.clusters").at(i);
      const c = object(raw, at, ["name", "weight", "requestHeadersToAdd", "requestHeadersToRemove", "responseHeadersToAdd", "responseHeadersToRemove", "typedPerFilterConfig", "hostRewriteLiteral"]);
      const name = str(c.name, at.at("name"));
      if (name === "") at.at("name").fail("must not be empty");
      const own = optStr(c.hostRewriteLiteral, at.at("hostRewriteLiteral"));
      const req = levelOps(c, "request", at);
      const resp = levelOps(c, "response", at);
      const fc = filterConfigs(c.typedPerFilterConfig, at.at("typedPerFilterConfig"));
      return Object.freeze({
        name,
        weight: wrappedNumeric(c.weight, at.at("weight")) ?? 0,
        requestHeaders: req.length === 0 ? requestHeaders : mergeLevels([req, routeReq, ...inherited.requestLevels], inherited.mostSpecificWins),
        responseHeaders: resp.length === 0 ? responseHeaders : mergeLevels([resp, routeResp, ...inherited.responseLevels], inherited.mostSpecificWins),
        filterConfig: mergeFilterConfigs(filterConfig, fc),
        hostRewrite: own !== undefined ? ({ kind: "literal", value: own } as const) : hostRewrite,
      });
    });
    if (targets.length === 0) where.at("route.weightedClusters.clusters").fail("at least one cluster is required");
    const total = targets.reduce((s, t) => s + t.weight, 0);
    if (total <= 0) where.at("route.weightedClusters").fail("the weights must add up to more than zero");
    const declared = wrappedNumeric(wc.totalWeight, where.at("route.weightedClusters.totalWeight"));
    if (declared !== undefined && declared !== total) where.at("route.weightedClusters.totalWeight").fail(`is ${declared} but the weights add up to ${total}`);
    clusters = targets.length === 1 ? new SinglePicker(targets[0]!) : new WeightedPicker(targets, total, inherited.random);
  }

  let clusterNotFoundStatus = 503;
  if (a.clusterNotFoundResponseCode !== undefined) {
    const code = NOT_FOUND_CODES[str(a.clusterNotFoundResponseCode, where.at("route.clusterNotFoundResponseCode"))];
    if (code === undefined) return where.at("route.clusterNotFoundResponseCode").fail(`unknown code ${JSON.stringify(a.clusterNotFoundResponseCode)}`);
    clusterNotFoundStatus = code;
  }
  const mirrors = a.requestMirrorPolicies !== undefined ? mirrorPolicies(a.requestMirrorPolicies, where.at("route.requestMirrorPolicies")) : [];
  const rateLimits = list(a.rateLimits, where.at("route.rateLimits")).map((r, i) => anyObject(r, where.at("route.rateLimits").at(i)));
  return Object.freeze({
    kind: "forward",
    routeName,
    virtualHostName: inherited.virtualHostName,
    clusters,
    clusterNotFoundStatus,
    timeoutMs: a.timeout === undefined ? DEFAULT_TIMEOUT_MS : nonNegativeDurationMs(a.timeout, where.at("route.timeout")),
    retry: a.retryPolicy !== undefined ? retryPolicy(a.retryPolicy, where.at("route.retryPolicy")) : inherited.retry,
    pathRewrite: pathRewriteOf(a, matched, where.at("route")),
    hostRewrite,
    mirrors: Object.freeze(mirrors.length > 0 ? mirrors : inherited.mirrors),
    requestHeaders,
    responseHeaders,
    filterConfig,
    rateLimits: rateLimits.length > 0 ? Object.freeze(rateLimits) : undefined,
    virtualHostRateLimits: inherited.rateLimits,
  } satisfies ForwardDecision);
}

// ---- direct response -------------------------------------------------------------------

export function directDecision(route: Obj, routeName: string, inherited: Inherited, where: ConfigPath): DirectDecision {
  const d = object(route.directResponse, where.at("directResponse"), ["status", "body"]);
  const status = numeric(d.status, where.at("directResponse.status"));
  if (status < 200 || status > 599) where.at("directResponse.status").fail(`${status} is not a status a direct response may use (200-599)`);
  let body: string | undefined;
  if (d.body !== undefined) {
    const b = object(d.body, where.at("directResponse.body"), ["inlineString", "inlineBytes"]);
    if (b.inlineString !== undefined) body = str(b.inlineString, where.at("directResponse.body.inlineString"));
    else if (b.inlineBytes !== undefined) body = Buffer.from(str(b.inlineBytes, where.at("directResponse.body.inlineBytes")), "base64").toString("utf8");
  }
  const headers: HeaderMap = body !== undefined && body !== "" ? { "content-type": "text/plain" } : {};
  return Object.freeze({
    kind: "direct",
    routeName,
    virtualHostName: inherited.virtualHostName,
    status,
    body,
    headers: Object.freeze(headers),
    responseHeaders: routeResponseHeaders(route, inherited, where),
    filterConfig: mergeFilterConfigs(inherited.filterConfig, filterConfigs(route.typedPerFilterConfig, where.at("typedPerFilterConfig"))),
  } satisfies DirectDecision);
}

function routeResponseHeaders(route: Obj, inherited: Inherited, where: ConfigPath): HeaderMutations {
  // Request mutations are meaningless without an upstream request, but still validated.
  levelOps(route, "request", where);
  return mergeLevels([levelOps(route, "response", where), ...inherited.responseLevels], inherited.mostSpecificWins);
}

// ---- redirect --------------------------------------------------------------------------

export interface CompiledRedirect {
  readonly routeName: string;
  readonly virtualHostName: string;
  readonly status: number;
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** pathRedirect: the whole path (and query, if it has one). */
  readonly fullPath: string | undefined;
  readonly pathRewrite: PathRewrite | undefined;
  readonly stripQuery: boolean;
  readonly responseHeaders: HeaderMutations;
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
}

export function compileRedirect(route: Obj, routeName: string, matched: MatchedLength, inherited: Inherited, where: ConfigPath): CompiledRedirect {
  const r = object(route.redirect, where.at("redirect"), ["httpsRedirect", "schemeRedirect", "hostRedirect", "portRedirect", "pathRedirect", "prefixRewrite", "regexRewrite", "responseCode", "stripQuery"]);
  let scheme = optStr(r.schemeRedirect, where.at("redirect.schemeRedirect"))?.toLowerCase();
  if (bool(r.httpsRedirect, where.at("redirect.httpsRedirect"))) {
    if (scheme !== undefined) where.at("redirect").fail("httpsRedirect and schemeRedirect are both set");
    scheme = "https";
  }
  if (scheme !== undefined && !/^[a-z][a-z0-9+.-]*$/.test(scheme)) where.at("redirect.schemeRedirect").fail(`${JSON.stringify(scheme)} is not a URL scheme`);
  const port = r.portRedirect === undefined ? undefined : numeric(r.portRedirect, where.at("redirect.portRedirect"));
  if (port !== undefined && (port < 1 || port > 65535)) where.at("redirect.portRedirect").fail(`${port} is not a port`);
  const paths = ["pathRedirect", "prefixRewrite", "regexRewrite"].filter((k) => r[k] !== undefined);
  if (paths.length > 1) where.at("redirect").fail(`${paths.join(" and ")} are both set`);
  const fullPath = optStr(r.pathRedirect, where.at("redirect.pathRedirect"));
  let status = 301;
  if (r.responseCode !== undefined) {
    const code = REDIRECT_CODES[str(r.responseCode, where.at("redirect.responseCode"))];
    if (code === undefined) return where.at("redirect.responseCode").fail(`unknown code ${JSON.stringify(r.responseCode)}`);
    status = code;
  }
  return Object.freeze({
    routeName,
    virtualHostName: inherited.virtualHostName,
    status,
    scheme,
    host: optStr(r.hostRedirect, where.at("redirect.hostRedirect"))?.toLowerCase(),
    port,
    fullPath,
    pathRewrite: pathRewriteOf(r, matched, where.at("redirect")),
    stripQuery: bool(r.stripQuery, where.at("redirect.stripQuery")),
    responseHeaders: routeResponseHeaders(route, inherited, where),
    filterConfig: mergeFilterConfigs(inherited.filterConfig, filterConfigs(route.typedPerFilterConfig, where.at("typedPerFilterConfig"))),
  });
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/** host[:port] -> [host, port or undefined] (IPv6 literals keep their brackets). */
function splitAuthority(authority: string): [string, number | undefined] {
  let host = authority;
  let port: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close > 0 && authority[close + 1] === ":") [host, port] = [authority.slice(0, close + 1), authority.slice(close + 2)];
  } else {
    const colon = authority.indexOf(":");
    // More than one colon: an IPv6 literal without brackets, no port.
    if (colon >= 0 && colon === authority.lastIndexOf(":")) [host, port] = [authority.slice(0, colon), authority.slice(colon + 1)];
  }
  const n = port === undefined || !/^[0-9]+$/.test(port) ? undefined : Number(port);
  return n === undefined ? [authority, undefined] : [host, n];
}

/**
 * The Location of a redirect. Port: portRedirect if given; else the port of hostRedirect
 * or of the request's authority, except that a scheme change drops it (the new scheme's
 * default applies). A port equal to the scheme's default (http 80, https 443) is left out.
 */
export function redirectLocation(r: CompiledRedirect, input: RouteInput): string {
  const scheme = r.scheme ?? input.scheme;
  let [host, port] = splitAuthority(r.host ?? input.authority.toLowerCase());
  if (r.port !== undefined) port = r.port;
  else if (r.host === undefined && scheme !== input.scheme) port = undefined;
  if (port !== undefined && DEFAULT_PORTS[scheme] === port) port = undefined;
  const q = input.path.indexOf("?");
  const path = q < 0 ? input.path : input.path.slice(0, q);
  let query = q < 0 || r.stripQuery ? "" : input.path.slice(q);
  let newPath = path;
  if (r.fullPath !== undefined) {
    newPath = r.fullPath;
    // A query in pathRedirect replaces the request's.
    if (newPath.includes("?")) query = "";
  } else if (r.pathRewrite) {
    newPath = applyRewrite(r.pathRewrite, path);
  }
  return `${scheme}://${host}${port === undefined ? "" : `:${port}`}${newPath}${query}`;
}

export function redirectDecision(r: CompiledRedirect, input: RouteInput): RedirectDecision {
  return { kind: "redirect", routeName: r.routeName, virtualHostName: r.virtualHostName, status: r.status, location: redirectLocation(r, input), responseHeaders: r.responseHeaders, filterConfig: r.filterConfig };
}
