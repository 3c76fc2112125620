// envoy.filters.http.rbac: Envoy's role based access control. A policy matches a request
// when any of its permissions and any of its principals match; the filter's action then
// decides: ALLOW lets only matching requests through, DENY stops matching ones, LOG lets
// everything through and marks matching requests in dynamic metadata (Istio's AUDIT).
// Everything is compiled into closures once per config; evaluating is allocation-free
// except for the rare matchers that must take the request apart (urlPath, SAN lists).

import type { FilterContext, FilterResult, HttpFilter } from "../contracts.js";
import { bool, ConfigPath, FILTER_CONFIG, list, num, type Obj, object, str } from "../config-reader.js";
import { compileCidr, parseIp } from "./ip.js";
import { CONTINUE, clientAddress, localReply } from "./local-reply.js";
import { compileHeaderMatcher, compileMetadataMatcher, compileStringMatcher, pathOnly, type StringPredicate } from "./matchers.js";

export const RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
/** Dynamic metadata namespace the filter writes (Envoy's canonical filter name). */
export const RBAC_METADATA = "envoy.filters.http.rbac";
export const RBAC_DENIED_BODY = "RBAC: access denied";

type Predicate = (ctx: FilterContext) => boolean;

const ALWAYS: Predicate = () => true;

function any(ps: Predicate[]): Predicate {
  if (ps.length === 1) return ps[0]!;
  return (ctx) => {
    for (let i = 0; i < ps.length; i++) if (ps[i]!(ctx)) return true;
    return false;
  };
}

function all(ps: Predicate[]): Predicate {
  if (ps.length === 1) return ps[0]!;
  return (ctx) => {
    for (let i = 0; i < ps.length; i++) if (!ps[i]!(ctx)) return false;
    return true;
  };
}

function urlPath(value: unknown, where: ConfigPath): Predicate {
  const o = object(value, where, ["path"]);
  const m = compileStringMatcher(o.path, where.at("path"));
  return (ctx) => m(pathOnly(ctx.path));
}

function ipMatcher(value: unknown, where: ConfigPath, address: (ctx: FilterContext) => string): Predicate {
  const m = compileCidr(value, where);
  return (ctx) => m(parseIp(address(ctx)));
}

/** Permissions and principals are oneofs: exactly one of `fields` is set. */
function oneOf(value: unknown, where: ConfigPath, fields: string[], message: string): { kind: string; w: ConfigPath; v: unknown } {
  const o = object(value, where, fields);
  const kinds = Object.keys(o).filter((k) => k !== "@type");
  if (kinds.length !== 1) where.fail(message);
  const kind = kinds[0]!;
  return { kind, w: where.at(kind), v: o[kind] };
}

function permission(value: unknown, where: ConfigPath): Predicate {
  const { kind, w, v } = oneOf(value, where, ["andRules", "orRules", "any", "header", "urlPath", "destinationIp", "destinationPort", "destinationPortRange", "metadata", "notRule", "requestedServerName"], "a permission needs exactly one rule");
  switch (kind) {
    case "any":
      if (!bool(v, w)) w.fail("any must be true");
      return ALWAYS;
    case "andRules":
    case "orRules": {
      const rules = list(object(v, w, ["rules"]).rules, w.at("rules")).map((r, i) => permission(r, w.at("rules").at(i)));
      return kind === "andRules" ? all(rules) : any(rules);
    }
    case "notRule": {
      const p = permission(v, w);
      return (ctx) => !p(ctx);
    }
    case "header":
      return compileHeaderMatcher(v, w);
    case "urlPath":
      return urlPath(v, w);
    case "destinationIp":
      return ipMatcher(v, w, (ctx) => ctx.request.localAddress);
    case "destinationPort": {
      const port = num(v, w);
      return (ctx) => ctx.request.localPort === port;
    }
    case "destinationPortRange": {
      const r = object(v, w, ["start", "end"]);
      const start = num(r.start, w.at("start"), 0);
      const end = num(r.end, w.at("end"), 0);
      return (ctx) => ctx.request.localPort >= start && ctx.request.localPort < end;
    }
    case "metadata":
      return compileMetadataMatcher(v, w);
    default: {
      const m = compileStringMatcher(v, w);
      return (ctx) => m(ctx.request.tls?.serverName ?? "");
    }
  }
}

/** The peer certificate's URI SAN (SPIFFE ID) first, then its other URI and DNS SANs, as Envoy does. */
function principalName(m: StringPredicate): Predicate {
  return (ctx) => {
    const tls = ctx.request.tls;
    if (!tls) return false;
    if (tls.peerSpiffeId !== undefined && m(tls.peerSpiffeId)) return true;
    const sans = tls.peerSubjectAltName;
    if (!sans) return false;
    for (const entry of sans.split(", ")) {
      const value = entry.startsWith("URI:") ? entry.slice(4) : entry.startsWith("DNS:") ? entry.slice(4) : undefined;
      if (value !== undefined && value !== tls.peerSpiffeId && m(value)) return true;
    }
    return false;
  };
}

function principal(value: unknown, where: ConfigPath): Predicate {
  const { kind, w, v } = oneOf(value, where, ["andIds", "orIds", "any", "authenticated", "sourceIp", "directRemoteIp", "remoteIp", "header", "urlPath", "metadata", "notId"], "a principal needs exactly one identifier");
  switch (kind) {
    case "any":
      if (!bool(v, w)) w.fail("any must be true");
      return ALWAYS;
    case "andIds":
    case "orIds": {
      const ids = list(object(v, w, ["ids"]).ids, w.at("ids")).map((r, i) => principal(r, w.at("ids").at(i)));
      return kind === "andIds" ? all(ids) : any(ids);
    }
    case "notId": {
      const p = principal(v, w);
      return (ctx) => !p(ctx);
    }
    case "authenticated": {
      const a = object(v, w, ["principalName"]);
      // No name: any peer that presented a certificate.
      if (a.principalName === undefined) return (ctx) => ctx.request.tls?.peerSpiffeId !== undefined || !!ctx.request.tls?.peerSubjectAltName;
      return principalName(compileStringMatcher(a.principalName, w.at("principalName")));
    }
    case "sourceIp":
    case "directRemoteIp":
      return ipMatcher(v, w, (ctx) => ctx.request.remoteAddress);
    case "remoteIp":
      return ipMatcher(v, w, clientAddress);
    case "header":
      return compileHeaderMatcher(v, w);
    case "urlPath":
      return urlPath(v, w);
    default:
      return compileMetadataMatcher(v, w);
  }
}

interface Policy {
  readonly name: string;
  readonly matches: Predicate;
}

function policies(value: unknown, where: ConfigPath): Policy[] {
  if (value === undefined) return [];
  if (value === null || typeof value !== "object") where.fail("expected a map of policies");
  return Object.entries(value as Obj).map(([name, p]) => {
    const w = where.at(name);
    const o = object(p, w, ["permissions", "principals"]);
    const perms = list(o.permissions, w.at("permissions")).map((x, i) => permission(x, w.at("permissions").at(i)));
    const princ = list(o.principals, w.at("principals")).map((x, i) => principal(x, w.at("principals").at(i)));
    // Envoy requires both lists non-empty; an empty one can never match.
    if (perms.length === 0 || princ.length === 0) return { name, matches: () => false };
    const permitted = any(perms);
    const identified = any(princ);
    return { name, matches: (ctx: FilterContext) => permitted(ctx) && identified(ctx) };
  });
}

function firstMatch(ps: readonly Policy[], ctx: FilterContext): Policy | undefined {
  for (let i = 0; i < ps.length; i++) if (ps[i]!.matches(ctx)) return ps[i];
  return undefined;
}

/** Compiles one RBAC filter config (typed config of envoy.filters.http.rbac*). */
export function compileRbac(name: string, config: Obj): HttpFilter {
  const where = new ConfigPath(FILTER_CONFIG, name, "");
  const o = object(config, where, ["rules", "rulesStatPrefix", "shadowRulesStatPrefix", "trackPerRuleStats"]);
  // No rules: Envoy applies no policy at all.
  if (o.rules === undefined) return { name, decode: () => CONTINUE };
  const r = object(o.rules, where.at("rules"), ["action", "policies"]);
  const action = str(r.action, where.at("rules.action"), "ALLOW");
  const ps = policies(r.policies, where.at("rules.policies"));
  let decode: (ctx: FilterContext) => FilterResult;
  switch (action) {
    case "ALLOW":
      decode = (ctx) => (firstMatch(ps, ctx) ? CONTINUE : localReply(ctx, 403, RBAC_DENIED_BODY));
      break;
    case "DENY":
      decode = (ctx) => (firstMatch(ps, ctx) ? localReply(ctx, 403, RBAC_DENIED_BODY) : CONTINUE);
      break;
    case "LOG":
      // Matching requests are marked for the access log; nothing is enforced.
      decode = (ctx) => {
        const p = firstMatch(ps, ctx);
        if (p) {
          const md = ctx.metadata.get(RBAC_METADATA);
          if (md) {
            md.access_log_hint = true;
            md.log_policy_id = p.name;
          } else ctx.metadata.set(RBAC_METADATA, { access_log_hint: true, log_policy_id: p.name });
        }
        return CONTINUE;
      };
      break;
    default:
      return where.at("rules.action").fail(`action ${action} is not supported`);
  }
  return { name, decode };
}
