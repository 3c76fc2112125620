// A RouteConfiguration (decoded, as received over xDS) compiled into a matcher.
//
// Compilation does everything that does not depend on the request: virtual host maps by
// domain, every regex translated and compiled, header mutation lists flattened across
// levels, per-filter configs merged, decisions built. A request then costs a domain map
// lookup, a bucket lookup by first path segment (tables with many routes) and the checks
// of the routes in that bucket, in configuration order: the first match wins, as in
// Envoy. Anything the router cannot honour throws ProxyRouteUnsupportedError naming the
// route configuration, virtual host, route and field, so the xDS client can NACK it.

import type { EnvoyResource, HeaderMap, RetryPolicy } from "../contracts.js";
import { anyObject, bool, ConfigPath, list, object, onlyFields, optStr, ROUTE_CONFIG, str, wrappedBool, type Obj } from "../config-reader.js";
import { levelOps, mergeLevels } from "./header-mutations.js";
import { literalPrefix } from "./re2.js";
import {
  compileRedirect,
  directDecision,
  filterConfigs,
  forwardDecision,
  mergeFilterConfigs,
  mirrorPolicies,
  redirectDecision,
  retryPolicy,
  type CompiledRedirect,
  type Inherited,
  type MatchedLength,
} from "./route-action.js";
import type { DirectDecision, ForwardDecision, RequestMirror, RouteDecision, RouteInput } from "./route-decision.js";
import { headerMatcher, headerMatches, parseQuery, queryMatcher, queryMatches, regexMatcher, type HeaderCheck, type QueryCheck } from "./string-match.js";
import { DomainIndex } from "./virtual-hosts.js";

export { applyHeaderMutations } from "./header-mutations.js";
export { rewritePath, redirectLocation } from "./route-action.js";

export interface RouteTable {
  readonly name: string;
  /** The decision for a request; undefined when no virtual host or no route matches (answer 404). */
  route(input: RouteInput): RouteDecision | undefined;
}

export interface RouteTableOptions {
  /** Random source in [0, 1) for weighted cluster picks (default Math.random); tests seed it. */
  readonly random?: () => number;
}

const PathKind = { Prefix: 0, Exact: 1, Regex: 2, SeparatedPrefix: 3 } as const;
type PathKind = (typeof PathKind)[keyof typeof PathKind];

interface CompiledRoute {
  readonly pathKind: PathKind;
  /** Prefix or path (lowercase when the match is case-insensitive); for regexes, the literal text every match starts with. */
  readonly pathValue: string;
  readonly caseSensitive: boolean;
  readonly regex: RegExp | undefined;
  readonly grpc: boolean;
  readonly headers: readonly HeaderCheck[] | undefined;
  readonly query: readonly QueryCheck[] | undefined;
  /** First path segment every matching path has (bucket key), if known. */
  readonly segment: string | undefined;
  readonly decision: ForwardDecision | DirectDecision | undefined;
  readonly redirect: CompiledRedirect | undefined;
}

/** Tables with at least this many routes in a virtual host get a first-segment index. */
const INDEX_MIN_ROUTES = 8;

class CompiledVirtualHost {
  private readonly buckets: Map<string, readonly CompiledRoute[]> | undefined;
  private readonly unkeyed: readonly CompiledRoute[];

  constructor(
    readonly name: string,
    readonly routes: readonly CompiledRoute[],
    readonly requireTls: CompiledRedirect | undefined,
  ) {
    this.unkeyed = routes.filter((r) => r.segment === undefined);
    const keys = new Set(routes.flatMap((r) => (r.segment === undefined ? [] : [r.segment])));
    // Each bucket holds its own routes and every unkeyed one, in table order; skip the
    // index when that would copy the unkeyed routes too often to pay off.
    if (routes.length >= INDEX_MIN_ROUTES && keys.size >= 2 && keys.size * this.unkeyed.length <= 16 * routes.length) {
      this.buckets = new Map();
      for (const k of keys) this.buckets.set(k, routes.filter((r) => r.segment === undefined || r.segment === k));
    }
  }

  /** `end`: where the path stops (the query's "?", or the length). */
  candidates(path: string, end: number): readonly CompiledRoute[] {
    const buckets = this.buckets;
    if (buckets === undefined) return this.routes;
    const slash = path.indexOf("/", 1);
    return buckets.get(path.slice(1, slash < 0 || slash > end ? end : slash)) ?? this.unkeyed;
  }
}

class CompiledRouteTable implements RouteTable {
  constructor(
    readonly name: string,
    private readonly hosts: DomainIndex<CompiledVirtualHost>,
  ) {}

  route(input: RouteInput): RouteDecision | undefined {
    const vh = this.hosts.find(input.authority);
    if (vh === undefined) return undefined;
    if (vh.requireTls !== undefined && input.scheme !== "https") return redirectDecision(vh.requireTls, input);
    // Compared in place: slicing the query off would cost a string per request, and
    // V8 compares slices more slowly than flat strings.
    const full = input.path;
    const q = full.indexOf("?");
    const end = q < 0 ? full.length : q;
    let path: string | undefined;
    let lower: string | undefined;
    let query: Map<string, string> | undefined;
    const routes = vh.candidates(full, end);
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      const v = r.pathValue;
      switch (r.pathKind) {
        case PathKind.Prefix:
          // Envoy compares prefixes with the whole :path (a prefix without "?" cannot reach the query).
          if (!(r.caseSensitive ? full : (lower ??= full.toLowerCase())).startsWith(v)) continue;
          break;
        case PathKind.Exact:
          if (end !== v.length || !(r.caseSensitive ? full : (lower ??= full.toLowerCase())).startsWith(v)) continue;
          break;
        case PathKind.SeparatedPrefix: {
          if (end < v.length) continue;
          const p = r.caseSensitive ? full : (lower ??= full.toLowerCase());
          if (!p.startsWith(v) || (end !== v.length && p.charCodeAt(v.length) !== 47)) continue;
          break;
        }
        default:
          // A literal start that does not fit saves running the regex.
          if (!full.startsWith(v)) continue;
          path ??= q < 0 ? full : full.slice(0, q);
          if (!r.regex!.test(path)) continue;
      }
      if (r.grpc && !isGrpc(input.headers)) continue;
      if (r.headers !== undefined && !allHeaders(input, r.headers)) continue;
      if (r.query !== undefined) {
        query ??= parseQuery(q < 0 ? "" : full.slice(q + 1));
        if (!allQuery(query, r.query)) continue;
      }
      return r.decision ?? redirectDecision(r.redirect!, input);
    }
    return undefined;
  }
}

function allHeaders(input: RouteInput, checks: readonly HeaderCheck[]): boolean {
  for (let i = 0; i < checks.length; i++) if (!headerMatches(input, checks[i]!)) return false;
  return true;
}

function allQuery(query: Map<string, string>, checks: readonly QueryCheck[]): boolean {
  for (let i = 0; i < checks.length; i++) if (!queryMatches(query, checks[i]!)) return false;
  return true;
}

/** Envoy's gRPC request test: content-type application/grpc, optionally +suffix or ;params. */
function isGrpc(headers: HeaderMap): boolean {
  const raw = headers["content-type"];
  const ct = typeof raw === "string" ? raw : raw?.[0];
  if (ct === undefined || !ct.startsWith("application/grpc")) return false;
  const next = ct.charCodeAt(16);
  return ct.length === 16 || next === 43 /* + */ || next === 59 /* ; */;
}

// ---- compilation ------------------------------------------------------------------------

export function compileRouteConfiguration(rc: EnvoyResource, options: RouteTableOptions = {}): RouteTable {
  const name = typeof rc.name === "string" ? rc.name : "";
  const top = new ConfigPath(ROUTE_CONFIG, `route configuration ${JSON.stringify(name)}`);
  onlyFields(
    rc,
    top,
    [
      "name",
      "virtualHosts",
      "requestHeadersToAdd",
      "requestHeadersToRemove",
      "responseHeadersToAdd",
      "responseHeadersToRemove",
      "mostSpecificHeaderMutationsWins",
      "requestMirrorPolicies",
      "ignorePortInHostMatching",
      "typedPerFilterConfig",
    ],
    // Envoy-side checks and bookkeeping that do not change how a request is routed.
    ["validateClusters", "maxDirectResponseBodySizeBytes", "metadata"],
  );
  const table: TableLevel = {
    mostSpecificWins: bool(rc.mostSpecificHeaderMutationsWins, top.at("mostSpecificHeaderMutationsWins")),
    request: levelOps(rc, "request", top),
    response: levelOps(rc, "response", top),
    filterConfig: filterConfigs(rc.typedPerFilterConfig, top.at("typedPerFilterConfig")),
    mirrors: mirrorPolicies(rc.requestMirrorPolicies, top.at("requestMirrorPolicies")),
    random: options.random ?? Math.random,
  };
  const hosts = new DomainIndex<CompiledVirtualHost>(bool(rc.ignorePortInHostMatching, top.at("ignorePortInHostMatching")));
  list(rc.virtualHosts, top.at("virtualHosts")).forEach((raw, i) => {
    const vh = anyObject(raw, top.at("virtualHosts").at(i));
    const vhName = typeof vh.name === "string" ? vh.name : `#${i}`;
    const where = new ConfigPath(ROUTE_CONFIG, `${top.subject} virtual host ${JSON.stringify(vhName)}`);
    const compiled = compileVirtualHost(vh, vhName, table, where, top.subject);
    const domains = list(vh.domains, where.at("domains"));
    if (domains.length === 0) where.at("domains").fail("at least one domain is required");
    domains.forEach((d, j) => {
      const domain = str(d, where.at("domains").at(j));
      if (domain === "") where.at("domains").at(j).fail("must not be empty");
      if (domain.includes("*") && domain !== "*" && !domain.startsWith("*") && !domain.endsWith("*")) where.at("domains").at(j).fail(`${JSON.stringify(domain)}: a wildcard must lead or end the domain`);
      if (!hosts.add(domain, compiled)) where.at("domains").at(j).fail(`${JSON.stringify(domain)} is already served by another virtual host`);
    });
  });
  return new CompiledRouteTable(name, hosts);
}

interface TableLevel {
  readonly mostSpecificWins: boolean;
  readonly request: ReturnType<typeof levelOps>;
  readonly response: ReturnType<typeof levelOps>;
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
  readonly mirrors: readonly RequestMirror[];
  readonly random: () => number;
}

function compileVirtualHost(vh: Obj, name: string, table: TableLevel, where: ConfigPath, tableText: string): CompiledVirtualHost {
  onlyFields(
    vh,
    where,
    ["name", "domains", "routes", "requireTls", "requestHeadersToAdd", "requestHeadersToRemove", "responseHeadersToAdd", "responseHeadersToRemove", "typedPerFilterConfig", "retryPolicy", "requestMirrorPolicies", "rateLimits"],
    // Statistics only.
    ["virtualClusters", "metadata"],
  );
  const mirrors = mirrorPolicies(vh.requestMirrorPolicies, where.at("requestMirrorPolicies"));
  const rateLimits = list(vh.rateLimits, where.at("rateLimits")).map((r, i) => anyObject(r, where.at("rateLimits").at(i)));
  const retry: RetryPolicy | undefined = vh.retryPolicy === undefined ? undefined : retryPolicy(vh.retryPolicy, where.at("retryPolicy"));
  const inherited: Inherited = {
    virtualHostName: name,
    mostSpecificWins: table.mostSpecificWins,
    requestLevels: [levelOps(vh, "request", where), table.request],
    responseLevels: [levelOps(vh, "response", where), table.response],
    filterConfig: mergeFilterConfigs(table.filterConfig, filterConfigs(vh.typedPerFilterConfig, where.at("typedPerFilterConfig"))),
    mirrors: mirrors.length > 0 ? mirrors : table.mirrors,
    retry,
    rateLimits: rateLimits.length > 0 ? Object.freeze(rateLimits) : undefined,
    random: table.random,
  };
  let requireTls: CompiledRedirect | undefined;
  const tls = optStr(vh.requireTls, where.at("requireTls")) ?? "NONE";
  if (tls === "ALL") {
    requireTls = Object.freeze({
      routeName: "",
      virtualHostName: name,
      status: 301,
      scheme: "https",
      host: undefined,
      port: undefined,
      fullPath: undefined,
      pathRewrite: undefined,
      stripQuery: false,
      responseHeaders: mergeLevels(inherited.responseLevels, inherited.mostSpecificWins),
      filterConfig: inherited.filterConfig,
    });
  } else if (tls !== "NONE") {
    where.at("requireTls").fail(`${tls} is not supported (NONE or ALL)`);
  }
  const routes = list(vh.routes, where.at("routes")).map((raw, i) => {
    const r = anyObject(raw, where.at("routes").at(i));
    const routeName = typeof r.name === "string" && r.name !== "" ? r.name : `#${i}`;
    const rw = new ConfigPath(ROUTE_CONFIG, `${tableText} virtual host ${JSON.stringify(name)} route ${i}${typeof r.name === "string" ? ` (${JSON.stringify(r.name)})` : ""}`);
    return compileRoute(r, routeName, inherited, rw);
  });
  return new CompiledVirtualHost(name, routes, requireTls);
}

function compileRoute(r: Obj, routeName: string, inherited: Inherited, where: ConfigPath): CompiledRoute {
  onlyFields(
    r,
    where,
    ["name", "match", "route", "redirect", "directResponse", "typedPerFilterConfig", "requestHeadersToAdd", "requestHeadersToRemove", "responseHeadersToAdd", "responseHeadersToRemove"],
    // Observability only.
    ["metadata", "decorator", "tracing", "statPrefix"],
  );
  const m = object(r.match, where.at("match"), ["prefix", "path", "safeRegex", "pathSeparatedPrefix", "caseSensitive", "headers", "queryParameters", "grpc"]);
  const specifiers = ["prefix", "path", "safeRegex", "pathSeparatedPrefix"].filter((k) => m[k] !== undefined);
  if (specifiers.length !== 1) where.at("match").fail("exactly one of prefix, path, safeRegex, pathSeparatedPrefix is required");
  const caseSensitive = wrappedBool(m.caseSensitive, where.at("match.caseSensitive")) ?? true;
  const fold = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  let pathKind: PathKind;
  let pathValue = "";
  let regex: RegExp | undefined;
  let literal = "";
  let matched: MatchedLength;
  switch (specifiers[0]) {
    case "prefix":
      pathKind = PathKind.Prefix;
      literal = str(m.prefix, where.at("match.prefix"));
      pathValue = fold(literal);
      matched = literal.length;
      break;
    case "path":
      pathKind = PathKind.Exact;
      literal = str(m.path, where.at("match.path"));
      pathValue = fold(literal);
      matched = -1;
      break;
    case "pathSeparatedPrefix":
      pathKind = PathKind.SeparatedPrefix;
      literal = str(m.pathSeparatedPrefix, where.at("match.pathSeparatedPrefix"));
      if (!/^[^?#]+[^?#/]$/.test(literal)) where.at("match.pathSeparatedPrefix").fail(`${JSON.stringify(literal)}: must not contain ? or # nor end with /`);
      pathValue = fold(literal);
      matched = literal.length;
      break;
    default: {
      pathKind = PathKind.Regex;
      regex = regexMatcher(m.safeRegex, where.at("match.safeRegex"));
      literal = regex.flags.includes("i") ? "" : literalPrefix(str(anyObject(m.safeRegex, where.at("match.safeRegex")).regex, where.at("match.safeRegex.regex")));
      pathValue = literal;
      matched = -1;
    }
  }
  const headers = list(m.headers, where.at("match.headers")).map((h, i) => headerMatcher(h, where.at("match.headers").at(i)));
  const query = list(m.queryParameters, where.at("match.queryParameters")).map((q, i) => queryMatcher(q, where.at("match.queryParameters").at(i)));
  let grpc = false;
  if (m.grpc !== undefined) {
    object(m.grpc, where.at("match.grpc"), []);
    grpc = true;
  }

  const actions = ["route", "redirect", "directResponse"].filter((k) => r[k] !== undefined);
  if (actions.length !== 1) where.at("action").fail("exactly one of route, redirect, directResponse is required");
  let decision: ForwardDecision | DirectDecision | undefined;
  let redirect: CompiledRedirect | undefined;
  if (actions[0] === "route") decision = forwardDecision(r, routeName, matched, inherited, where);
  else if (actions[0] === "directResponse") decision = directDecision(r, routeName, inherited, where);
  else redirect = compileRedirect(r, routeName, matched, inherited, where);

  return {
    pathKind,
    pathValue,
    caseSensitive,
    regex,
    grpc,
    headers: headers.length > 0 ? headers : undefined,
    query: query.length > 0 ? query : undefined,
    segment: caseSensitive || pathKind === PathKind.Regex ? firstSegment(literal, pathKind) : undefined,
    decision,
    redirect,
  };
}

/**
 * The first path segment every path this route matches has, when the literal start of
 * the match pins it down: `/a/...` for any kind, or `/a` whole for exact and
 * segment-aware prefixes.
 */
function firstSegment(literal: string, kind: PathKind): string | undefined {
  if (!literal.startsWith("/")) return undefined;
  const slash = literal.indexOf("/", 1);
  if (slash > 0) return literal.slice(1, slash);
  return kind === PathKind.Exact || kind === PathKind.SeparatedPrefix ? literal.slice(1) : undefined;
}
