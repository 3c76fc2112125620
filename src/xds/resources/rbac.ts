// Istio AuthorizationPolicy semantics -> Envoy RBAC http filters.
//
// Istio evaluates AUDIT (logs only), then DENY, then ALLOW: a request is denied when any
// DENY policy matches; when at least one ALLOW policy applies, it must match one of them.
// So: one RBAC filter per action present (LOG, DENY, ALLOW, in that order), each holding
// one Envoy policy per Istio rule. An Istio rule matches when any `from` and any `to`
// match and all `when` conditions hold; an Envoy policy matches when any principal and
// any permission match, so every `when` condition is ANDed into each principal (identity
// conditions) or each permission (request conditions).
//
// Request principals (`<iss>/<sub>`) are matched on the verified JWT payload that every
// provider writes to the jwt_authn filter's metadata under JWT_PAYLOAD_METADATA_KEY.
// Only tokens from the listener's own providers are ever verified, so a pattern is split
// against the known issuers: `https://idp/x` with issuer `https://idp` becomes
// iss == "https://idp" AND sub == "x", with no guessing where the issuer ends.

import { XdsUnsupportedError } from "../../errors.js";
import type { IrAuthorization, IrAuthzCondition, IrAuthzOperation, IrAuthzPolicy, IrAuthzRule, IrAuthzSource } from "../../ir/index.js";
import { ANY_TYPES, escapeRegex, FILTER_NAMES, istioStringMatcher, JWT_PAYLOAD_METADATA_KEY, type Json } from "./common.js";

export interface RbacContext {
  /** Issuers of the JWT providers on the same listener. */
  readonly issuers: readonly string[];
}

const NEVER_PRINCIPAL: Json = { notId: { any: true } };
const NEVER_PERMISSION: Json = { notRule: { any: true } };
const ANY: Json = { any: true };

const orIds = (ids: Json[]): Json => (ids.length === 0 ? NEVER_PRINCIPAL : ids.length === 1 ? ids[0]! : { orIds: { ids } });
const andIds = (ids: Json[]): Json => (ids.length === 0 ? ANY : ids.length === 1 ? ids[0]! : { andIds: { ids } });
const orRules = (rules: Json[]): Json => (rules.length === 0 ? NEVER_PERMISSION : rules.length === 1 ? rules[0]! : { orRules: { rules } });
const andRules = (rules: Json[]): Json => (rules.length === 0 ? ANY : rules.length === 1 ? rules[0]! : { andRules: { rules } });

/** The RBAC http filters for one listener, in the order they must run. */
export function rbacFilters(authz: IrAuthorization, ctx: RbacContext): Json[] {
  const byAction = (action: IrAuthzPolicy["action"]) => authz.policies.filter((p) => p.action === action);
  const filters: Json[] = [];
  const add = (name: string, action: "LOG" | "DENY" | "ALLOW", policies: readonly IrAuthzPolicy[]) => {
    if (policies.length === 0) return;
    filters.push({ name, typedConfig: { "@type": ANY_TYPES.rbac, rules: { action, policies: envoyPolicies(policies, ctx) } } });
  };
  add(FILTER_NAMES.rbacAudit, "LOG", byAction("AUDIT"));
  add(FILTER_NAMES.rbacDeny, "DENY", byAction("DENY"));
  add(FILTER_NAMES.rbacAllow, "ALLOW", byAction("ALLOW"));
  return filters;
}

function envoyPolicies(policies: readonly IrAuthzPolicy[], ctx: RbacContext): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const policy of policies) {
    // A policy without rules matches nothing: kept (as a policy that never matches) so a
    // config dump still shows it was applied.
    if (policy.rules.length === 0) out[policy.name] = { permissions: [NEVER_PERMISSION], principals: [NEVER_PRINCIPAL] };
    policy.rules.forEach((rule, i) => (out[`${policy.name}/rule/${i}`] = envoyPolicy(policy, rule, ctx)));
  }
  return out;
}

function envoyPolicy(policy: IrAuthzPolicy, rule: IrAuthzRule, ctx: RbacContext): Json {
  const whenPrincipals: Json[] = [];
  const whenPermissions: Json[] = [];
  for (const c of rule.when ?? []) {
    const where = `AuthorizationPolicy ${policy.name} when ${c.key}`;
    const m = conditionMatcher(c, ctx, where);
    (m.side === "principal" ? whenPrincipals : whenPermissions).push(m.matcher);
  }
  const principals = rule.from ? rule.from.map((s) => andIds([...sourceIds(s, ctx), ...whenPrincipals])) : [andIds(whenPrincipals)];
  const permissions = rule.to ? rule.to.map((o) => andRules([...operationRules(o), ...whenPermissions])) : [andRules(whenPermissions)];
  return { permissions, principals };
}

// ---- from --------------------------------------------------------------------------

function sourceIds(s: IrAuthzSource, ctx: RbacContext): Json[] {
  const ids: Json[] = [];
  const field = (values: readonly string[] | undefined, one: (v: string) => Json, negate = false) => {
    if (!values) return;
    const m = orIds(values.map(one));
    ids.push(negate ? { notId: m } : m);
  };
  field(s.principals, principalName);
  field(s.notPrincipals, principalName, true);
  field(s.requestPrincipals, (v) => requestPrincipal(v, ctx.issuers));
  field(s.notRequestPrincipals, (v) => requestPrincipal(v, ctx.issuers), true);
  field(s.namespaces, namespace);
  field(s.notNamespaces, namespace, true);
  field(s.ipBlocks, (v) => ({ directRemoteIp: cidr(v) }));
  field(s.notIpBlocks, (v) => ({ directRemoteIp: cidr(v) }), true);
  field(s.remoteIpBlocks, (v) => ({ remoteIp: cidr(v) }));
  field(s.notRemoteIpBlocks, (v) => ({ remoteIp: cidr(v) }), true);
  return ids;
}

/** Istio principals omit the `spiffe://` scheme the certificate's URI SAN carries. */
export function principalName(value: string): Json {
  if (value === "*") return { authenticated: { principalName: { safeRegex: { regex: ".+" } } } };
  const withScheme = (v: string) => (v.startsWith("spiffe://") ? v : `spiffe://${v}`);
  if (value.endsWith("*")) return { authenticated: { principalName: { prefix: withScheme(value.slice(0, -1)) } } };
  if (value.startsWith("*")) return { authenticated: { principalName: { suffix: value.slice(1) } } };
  return { authenticated: { principalName: { exact: withScheme(value) } } };
}

/** A namespace is the `/ns/<namespace>/` segment of the peer's SPIFFE ID. */
export function namespace(value: string): Json {
  const segment =
    value === "*" ? "[^/]+" : value.endsWith("*") ? `${escapeRegex(value.slice(0, -1))}[^/]*` : value.startsWith("*") ? `[^/]*${escapeRegex(value.slice(1))}` : escapeRegex(value);
  return { authenticated: { principalName: { safeRegex: { regex: `.*/ns/${segment}/.*` } } } };
}

export function cidr(value: string): Json {
  const [address, len] = value.split("/") as [string, string | undefined];
  const prefixLen = len !== undefined ? Number(len) : address.includes(":") ? 128 : 32;
  return { addressPrefix: address, prefixLen: { value: prefixLen } };
}

function jwtMetadata(path: readonly string[], value: Json): Json {
  return { metadata: { filter: FILTER_NAMES.jwtAuthn, path: [JWT_PAYLOAD_METADATA_KEY, ...path].map((key) => ({ key })), value } };
}

const claimEquals = (claim: string, value: string) => jwtMetadata([claim], { stringMatch: { exact: value } });

/** `<iss>/<sub>` with Istio's `*`, `x*`, `*x`, split against the known issuers. */
export function requestPrincipal(value: string, issuers: readonly string[]): Json {
  if (value === "*") return andIds([jwtMetadata(["iss"], { presentMatch: true }), jwtMetadata(["sub"], { presentMatch: true })]);
  const alternatives: Json[] = [];
  for (const iss of issuers) {
    const sep = `${iss}/`;
    const issuerIs = claimEquals("iss", iss);
    if (value.endsWith("*")) {
      const prefix = value.slice(0, -1);
      if (prefix.startsWith(sep)) alternatives.push(andIds([issuerIs, jwtMetadata(["sub"], { stringMatch: { prefix: prefix.slice(sep.length) } })]));
      else if (sep.startsWith(prefix)) alternatives.push(andIds([issuerIs, jwtMetadata(["sub"], { presentMatch: true })]));
    } else if (value.startsWith("*")) {
      const suffix = value.slice(1);
      // The whole suffix may lie inside the subject, or start inside the issuer, the
      // separating `/` being any of the suffix's slashes.
      alternatives.push(andIds([issuerIs, jwtMetadata(["sub"], { stringMatch: { suffix } })]));
      for (let k = suffix.indexOf("/"); k >= 0; k = suffix.indexOf("/", k + 1)) {
        if (iss.endsWith(suffix.slice(0, k))) alternatives.push(andIds([issuerIs, claimEquals("sub", suffix.slice(k + 1))]));
      }
    } else if (value.startsWith(sep)) {
      alternatives.push(andIds([issuerIs, claimEquals("sub", value.slice(sep.length))]));
    }
  }
  return orIds(alternatives);
}

/** A claim may hold a string or a list of strings (aud, groups): match either. */
function claimMatcher(path: readonly string[], value: string): Json {
  const m = istioStringMatcher(value);
  return orIds([jwtMetadata(path, { stringMatch: m }), jwtMetadata(path, { listMatch: { oneOf: { stringMatch: m } } })]);
}

// ---- to ----------------------------------------------------------------------------

function operationRules(o: IrAuthzOperation): Json[] {
  const rules: Json[] = [];
  const field = <T>(values: readonly T[] | undefined, one: (v: T) => Json, negate = false) => {
    if (!values) return;
    const m = orRules(values.map(one));
    rules.push(negate ? { notRule: m } : m);
  };
  field(o.hosts, hostRule);
  field(o.notHosts, hostRule, true);
  field(o.ports, (p) => ({ destinationPort: p }));
  field(o.notPorts, (p) => ({ destinationPort: p }), true);
  field(o.methods, (m) => ({ header: { name: ":method", stringMatch: { exact: m } } }));
  field(o.notMethods, (m) => ({ header: { name: ":method", stringMatch: { exact: m } } }), true);
  field(o.paths, (p) => ({ urlPath: { path: istioStringMatcher(p) } }));
  field(o.notPaths, (p) => ({ urlPath: { path: istioStringMatcher(p) } }), true);
  return rules;
}

/** Hosts compare case-insensitively, with or without the port the client added. */
function hostRule(host: string): Json {
  const authority = (m: Json): Json => ({ header: { name: ":authority", stringMatch: m } });
  if (host === "*" || host.startsWith("*") || host.endsWith("*") || host.includes(":")) return authority(istioStringMatcher(host, { ignoreCase: true }));
  return orRules([authority({ exact: host, ignoreCase: true }), authority({ prefix: `${host}:`, ignoreCase: true })]);
}

// ---- when --------------------------------------------------------------------------

const HEADER_KEY = /^request\.headers\[(.+)\]$/;
const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\]]+\])+)$/;

function conditionMatcher(c: IrAuthzCondition, ctx: RbacContext, where: string): { side: "principal" | "permission"; matcher: Json } {
  const principal = (one: (v: string) => Json) => ({ side: "principal" as const, matcher: combine(c, one, orIds, (m) => ({ notId: m }), andIds) });
  const permission = (one: (v: string) => Json) => ({ side: "permission" as const, matcher: combine(c, one, orRules, (m) => ({ notRule: m }), andRules) });
  const header = HEADER_KEY.exec(c.key);
  if (header) return principal((v) => ({ header: { name: header[1]!.toLowerCase(), stringMatch: istioStringMatcher(v) } }));
  const claim = CLAIM_KEY.exec(c.key);
  if (claim) {
    const path = [...claim[1]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
    return principal((v) => claimMatcher(path, v));
  }
  switch (c.key) {
    case "source.ip":
      return principal((v) => ({ directRemoteIp: cidr(v) }));
    case "remote.ip":
      return principal((v) => ({ remoteIp: cidr(v) }));
    case "source.namespace":
      return principal(namespace);
    case "source.principal":
      return principal(principalName);
    case "request.auth.principal":
      return principal((v) => requestPrincipal(v, ctx.issuers));
    case "request.auth.audiences":
      return principal((v) => claimMatcher(["aud"], v));
    case "request.auth.presenter":
      return principal((v) => claimMatcher(["azp"], v));
    case "destination.ip":
      return permission((v) => ({ destinationIp: cidr(v) }));
    case "destination.port":
      return permission((v) => {
        const port = Number(v);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new XdsUnsupportedError(where, `"${v}" is not a port`);
        return { destinationPort: port };
      });
    case "connection.sni":
      return permission((v) => ({ requestedServerName: istioStringMatcher(v) }));
    default:
      throw new XdsUnsupportedError(where, "unknown condition key");
  }
}

/** values: any of them; notValues: none of them; both: both hold. */
function combine(c: IrAuthzCondition, one: (v: string) => Json, or: (xs: Json[]) => Json, not: (x: Json) => Json, and: (xs: Json[]) => Json): Json {
  const parts: Json[] = [];
  if (c.values) parts.push(or(c.values.map(one)));
  if (c.notValues) parts.push(not(or(c.notValues.map(one))));
  return and(parts);
}
