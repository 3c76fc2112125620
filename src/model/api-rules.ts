// Rules the upstream APIs enforce outside their OpenAPI schema: CEL validations in the
// Gateway API CRDs, Istio's validation webhook, and Kubernetes API-server validation for
// core kinds. A Kubernetes cluster would refuse these documents, so we do too, with the
// field path of the offending value.

import { isIP } from "node:net";
import type { FieldPath } from "../config/source-position.js";
import type { SchemaViolation } from "./schema-errors.js";
import type { AnyResource } from "./resource.js";
import type { KindName } from "./kinds.js";
import { parseDurationMs } from "./duration.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Check = (r: AnyResource, out: SchemaViolation[]) => void;

const CHECKS: Partial<Record<KindName, Check>> = {
  Gateway: checkGateway,
  HTTPRoute: (r, out) => checkRoute(r, out, "HTTPRoute"),
  GRPCRoute: (r, out) => checkRoute(r, out, "GRPCRoute"),
  Service: checkService,
  Secret: checkSecret,
  EndpointSlice: checkEndpointSlice,
  AuthorizationPolicy: checkAuthorizationPolicy,
  RequestAuthentication: checkRequestAuthentication,
  PeerAuthentication: checkPeerAuthentication,
  BackendTrafficPolicy: checkBackendTrafficPolicy,
  Mesh: checkMesh,
};

export function checkApiRules(r: AnyResource): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  CHECKS[r.kind]?.(r, out);
  return out;
}

function v(out: SchemaViolation[], path: FieldPath, message: string) {
  out.push({ path, message });
}

function duplicates<T>(items: readonly T[], key: (t: T) => string | undefined): [number, number][] {
  const seen = new Map<string, number>();
  const dups: [number, number][] = [];
  items.forEach((item, i) => {
    const k = key(item);
    if (k === undefined) return;
    const first = seen.get(k);
    if (first !== undefined) dups.push([first, i]);
    else seen.set(k, i);
  });
  return dups;
}

// --- Gateway API ---------------------------------------------------------------------

function checkGateway(r: AnyResource, out: SchemaViolation[]) {
  const listeners: Obj[] = r.spec.listeners ?? [];
  for (const [first, i] of duplicates(listeners, (l) => l.name)) {
    v(out, ["spec", "listeners", i, "name"], `listener name "${listeners[i]!.name}" is already used by listeners[${first}]; names must be unique`);
  }
  listeners.forEach((l, i) => {
    const at: FieldPath = ["spec", "listeners", i];
    if ((l.protocol === "HTTP" || l.protocol === "TCP" || l.protocol === "UDP") && l.tls !== undefined) {
      v(out, [...at, "tls"], `tls must not be set for protocol ${l.protocol}`);
    }
    if ((l.protocol === "HTTPS" || l.protocol === "TLS") && l.tls === undefined) {
      v(out, [...at, "tls"], `tls is required for protocol ${l.protocol} (certificateRefs for mode Terminate)`);
    }
    if ((l.protocol === "TCP" || l.protocol === "UDP") && l.hostname !== undefined) {
      v(out, [...at, "hostname"], `hostname must not be set for protocol ${l.protocol}`);
    }
    const mode = l.tls?.mode ?? "Terminate";
    if (l.tls && mode === "Terminate" && !(l.tls.certificateRefs?.length > 0) && !l.tls.options) {
      v(out, [...at, "tls", "certificateRefs"], "at least one certificateRef is required when tls.mode is Terminate");
    }
  });
}

const PATH_FORBIDDEN = [
  ["//", "must not contain '//'"],
  ["/./", "must not contain '/./'"],
  ["/../", "must not contain '/../'"],
  ["%2f", "must not contain '%2f'"],
  ["%2F", "must not contain '%2F'"],
  ["#", "must not contain '#'"],
] as const;

function checkRoute(r: AnyResource, out: SchemaViolation[], kind: "HTTPRoute" | "GRPCRoute") {
  const spec = r.spec as Obj;
  const parents: Obj[] = spec.parentRefs ?? [];
  for (const [first, i] of duplicates(parents, (p) =>
    JSON.stringify([p.group ?? "gateway.networking.k8s.io", p.kind ?? "Gateway", p.namespace ?? "", p.name, p.sectionName ?? "", p.port ?? 0]),
  )) {
    v(out, ["spec", "parentRefs", i], `repeats parentRefs[${first}]; each parentRef must be unique`);
  }
  (spec.rules ?? []).forEach((rule: Obj, ri: number) => {
    const at: FieldPath = ["spec", "rules", ri];
    const matches: Obj[] = rule.matches ?? [];
    matches.forEach((m, mi) => {
      const mat: FieldPath = [...at, "matches", mi];
      if (kind === "HTTPRoute" && m.path && (m.path.type ?? "PathPrefix") !== "RegularExpression") {
        const value: string = m.path.value ?? "/";
        if (!value.startsWith("/")) v(out, [...mat, "path", "value"], `must be an absolute path starting with '/' (got "${value}")`);
        for (const [bad, msg] of PATH_FORBIDDEN) if (value.includes(bad)) v(out, [...mat, "path", "value"], msg);
        if (value.endsWith("/..") || value.endsWith("/.")) v(out, [...mat, "path", "value"], "must not end with '/.' or '/..'");
      }
      if (m.path?.type === "RegularExpression") checkRegex(out, [...mat, "path", "value"], m.path.value);
      for (const [first, i] of duplicates<Obj>(m.headers ?? [], (h) => String(h.name).toLowerCase())) {
        v(out, [...mat, "headers", i, "name"], `header "${m.headers[i].name}" is already matched by headers[${first}] (names are case-insensitive)`);
      }
      for (const [first, i] of duplicates<Obj>(m.queryParams ?? [], (q) => String(q.name))) {
        v(out, [...mat, "queryParams", i, "name"], `query parameter "${m.queryParams[i].name}" is already matched by queryParams[${first}]`);
      }
      (m.headers ?? []).forEach((h: Obj, hi: number) => {
        if (h.type === "RegularExpression") checkRegex(out, [...mat, "headers", hi, "value"], h.value);
      });
      (m.queryParams ?? []).forEach((q: Obj, qi: number) => {
        if (q.type === "RegularExpression") checkRegex(out, [...mat, "queryParams", qi, "value"], q.value);
      });
      if (kind === "GRPCRoute" && m.method) {
        const type = m.method.type ?? "Exact";
        if (!m.method.service && !m.method.method) v(out, [...mat, "method"], "one or both of service and method must be set");
        if (type === "RegularExpression") {
          if (m.method.service) checkRegex(out, [...mat, "method", "service"], m.method.service);
          if (m.method.method) checkRegex(out, [...mat, "method", "method"], m.method.method);
        }
      }
    });
    checkFilters(out, [...at, "filters"], rule.filters ?? [], matches, kind);
    (rule.backendRefs ?? []).forEach((b: Obj, bi: number) => {
      checkBackendRef(out, [...at, "backendRefs", bi], b);
      checkFilters(out, [...at, "backendRefs", bi, "filters"], b.filters ?? [], matches, kind);
    });
    if (kind === "HTTPRoute" && rule.timeouts?.request && rule.timeouts?.backendRequest) {
      const req = parseDurationMs(rule.timeouts.request);
      const be = parseDurationMs(rule.timeouts.backendRequest);
      if (req !== undefined && be !== undefined && req !== 0 && be > req) {
        v(out, [...at, "timeouts", "backendRequest"], `must not be longer than timeouts.request (${rule.timeouts.request})`);
      }
    }
  });
}

const FILTER_FIELD: Record<string, string> = {
  RequestHeaderModifier: "requestHeaderModifier",
  ResponseHeaderModifier: "responseHeaderModifier",
  RequestMirror: "requestMirror",
  RequestRedirect: "requestRedirect",
  URLRewrite: "urlRewrite",
  ExtensionRef: "extensionRef",
  CORS: "cors",
  ExternalAuth: "externalAuth",
};

function checkFilters(out: SchemaViolation[], at: FieldPath, filters: Obj[], matches: Obj[], kind: string) {
  const types = filters.map((f) => f.type as string);
  filters.forEach((f, fi) => {
    const field = FILTER_FIELD[f.type];
    if (field && f[field] === undefined) v(out, [...at, fi, field], `required when type is ${f.type}`);
    for (const [t, other] of Object.entries(FILTER_FIELD)) {
      if (t !== f.type && f[other] !== undefined) v(out, [...at, fi, other], `must not be set when type is ${f.type}`);
    }
    for (const mod of ["requestHeaderModifier", "responseHeaderModifier"]) {
      const hm = f[mod];
      if (!hm) continue;
      const names = [...(hm.set ?? []).map((h: Obj) => h.name), ...(hm.add ?? []).map((h: Obj) => h.name), ...(hm.remove ?? [])].map((n: string) =>
        String(n).toLowerCase(),
      );
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup) v(out, [...at, fi, mod], `header "${dup}" appears more than once across set, add and remove`);
    }
    if (f.requestMirror?.backendRef) checkBackendRef(out, [...at, fi, "requestMirror", "backendRef"], f.requestMirror.backendRef);
    const prefixRewrite =
      f.urlRewrite?.path?.type === "ReplacePrefixMatch" || f.requestRedirect?.path?.type === "ReplacePrefixMatch";
    if (prefixRewrite && kind === "HTTPRoute") {
      const ok = matches.length === 1 && (matches[0]!.path?.type ?? "PathPrefix") === "PathPrefix";
      if (!ok) v(out, [...at, fi], "ReplacePrefixMatch needs exactly one match, and it must be a PathPrefix path match");
    }
    for (const which of ["urlRewrite", "requestRedirect"]) {
      const p = f[which]?.path;
      if (!p) continue;
      if (p.type === "ReplaceFullPath" && p.replaceFullPath === undefined) v(out, [...at, fi, which, "path", "replaceFullPath"], "required when path.type is ReplaceFullPath");
      if (p.type === "ReplacePrefixMatch" && p.replacePrefixMatch === undefined) v(out, [...at, fi, which, "path", "replacePrefixMatch"], "required when path.type is ReplacePrefixMatch");
    }
  });
  for (const once of ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite"]) {
    const idx = types.map((t, i) => (t === once ? i : -1)).filter((i) => i >= 0);
    if (idx.length > 1) v(out, [...at, idx[1]!], `${once} may appear at most once in a filter list`);
  }
  if (types.includes("RequestRedirect") && types.includes("URLRewrite")) {
    v(out, [...at, types.indexOf("URLRewrite")], "RequestRedirect and URLRewrite cannot be used together");
  }
}

function checkBackendRef(out: SchemaViolation[], at: FieldPath, b: Obj) {
  const group = b.group ?? "";
  const kind = b.kind ?? "Service";
  if (group === "" && kind === "Service" && b.port === undefined) v(out, [...at, "port"], "required when the backend is a Service");
}

function checkRegex(out: SchemaViolation[], at: FieldPath, pattern: unknown) {
  if (typeof pattern !== "string") return;
  try {
    new RegExp(pattern);
  } catch (e) {
    v(out, at, `not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`);
  }
}

// The parser lives in duration.ts (the translator uses it too); re-exported for existing callers.
export { parseDurationMs };

// --- core ----------------------------------------------------------------------------

function checkService(r: AnyResource, out: SchemaViolation[]) {
  const ports: Obj[] = r.spec.ports ?? [];
  if (ports.length > 1) {
    ports.forEach((p, i) => {
      if (!p.name) v(out, ["spec", "ports", i, "name"], "required when a Service has more than one port");
    });
  }
  for (const [first, i] of duplicates(ports, (p) => p.name)) v(out, ["spec", "ports", i, "name"], `port name "${ports[i]!.name}" is already used by ports[${first}]`);
  for (const [first, i] of duplicates(ports, (p) => `${p.port}/${p.protocol ?? "TCP"}`)) v(out, ["spec", "ports", i, "port"], `port ${ports[i]!.port} is already used by ports[${first}]`);
}

function checkSecret(r: AnyResource, out: SchemaViolation[]) {
  const o = r.object as Obj;
  const data: Obj = o.data ?? {};
  const stringData: Obj = o.stringData ?? {};
  if (o.type === "kubernetes.io/tls") {
    for (const k of ["tls.crt", "tls.key"]) {
      if (data[k] === undefined && stringData[k] === undefined) v(out, ["data"], `a kubernetes.io/tls Secret needs "${k}" in data or stringData`);
    }
  }
}

function checkEndpointSlice(r: AnyResource, out: SchemaViolation[]) {
  const o = r.object as Obj;
  const family = o.addressType === "IPv4" ? 4 : o.addressType === "IPv6" ? 6 : 0;
  (o.endpoints ?? []).forEach((e: Obj, ei: number) => {
    (e.addresses ?? []).forEach((a: string, ai: number) => {
      if (family !== 0 && isIP(a) !== family) v(out, ["endpoints", ei, "addresses", ai], `"${a}" is not an ${o.addressType} address`);
    });
  });
  if (!(r.labels["kubernetes.io/service-name"])) {
    v(out, ["metadata", "labels"], 'label "kubernetes.io/service-name" is required: it names the Service these endpoints back');
  }
}

// --- Istio security ------------------------------------------------------------------

function checkTargeting(r: AnyResource, out: SchemaViolation[]) {
  const s = r.spec as Obj;
  if (s.selector && (s.targetRef || s.targetRefs)) v(out, ["spec", "selector"], "selector and targetRef(s) cannot both be set");
  if (s.targetRef && s.targetRefs) v(out, ["spec", "targetRef"], "targetRef and targetRefs cannot both be set");
}

const VALUE_LISTS = ["principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces", "notNamespaces", "hosts", "notHosts", "paths", "notPaths", "methods", "notMethods"];

function checkMatchValues(out: SchemaViolation[], at: FieldPath, section: Obj) {
  for (const key of VALUE_LISTS) {
    (section[key] ?? []).forEach((val: string, i: number) => {
      if (val === "") v(out, [...at, key, i], "must not be empty");
      else if (val.length > 1 && val.indexOf("*", 1) >= 0 && val.indexOf("*", 1) !== val.length - 1) {
        v(out, [...at, key, i], `"${val}": '*' may only be the whole value, a prefix or a suffix`);
      }
    });
  }
}

const WHEN_KEYS = [
  /^request\.headers\[[^\]]+\]$/,
  /^source\.(ip|namespace|principal)$/,
  /^remote\.ip$/,
  /^request\.auth\.(principal|audiences|presenter)$/,
  /^request\.auth\.claims\[[^\]]+\](\[[^\]]+\])*$/,
  /^destination\.(ip|port)$/,
  /^connection\.sni$/,
];

/**
 * Istio's `experimental.envoy.filters.*` keys match metadata written by Envoy filters the
 * proxies here do not run; refused rather than dropped, since dropping a condition of a
 * DENY rule would widen or narrow what it stops.
 */
const EXPERIMENTAL_KEY = /^experimental\.envoy\.filters\./;

function checkAuthorizationPolicy(r: AnyResource, out: SchemaViolation[]) {
  checkTargeting(r, out);
  const s = r.spec as Obj;
  if (s.action === "CUSTOM" && !s.provider) v(out, ["spec", "provider"], "required when action is CUSTOM");
  if (s.action !== "CUSTOM" && s.provider) v(out, ["spec", "provider"], "only allowed when action is CUSTOM");
  (s.rules ?? []).forEach((rule: Obj, ri: number) => {
    const at: FieldPath = ["spec", "rules", ri];
    (rule.from ?? []).forEach((f: Obj, fi: number) => {
      if (!f.source || Object.keys(f.source).length === 0) v(out, [...at, "from", fi, "source"], "must not be empty");
      else checkMatchValues(out, [...at, "from", fi, "source"], f.source);
    });
    (rule.to ?? []).forEach((t: Obj, ti: number) => {
      if (!t.operation || Object.keys(t.operation).length === 0) v(out, [...at, "to", ti, "operation"], "must not be empty");
      else {
        checkMatchValues(out, [...at, "to", ti, "operation"], t.operation);
        [...(t.operation.ports ?? []), ...(t.operation.notPorts ?? [])].forEach((p: string) => {
          if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) v(out, [...at, "to", ti, "operation"], `"${p}" is not a port number`);
        });
      }
    });
    (rule.when ?? []).forEach((w: Obj, wi: number) => {
      if (EXPERIMENTAL_KEY.test(w.key)) v(out, [...at, "when", wi, "key"], `"${w.key}": experimental.envoy.filters.* conditions are not supported`);
      else if (!WHEN_KEYS.some((re) => re.test(w.key))) v(out, [...at, "when", wi, "key"], `unknown condition key "${w.key}" (see Istio's authorization conditions)`);
      if (!(w.values?.length > 0) && !(w.notValues?.length > 0)) v(out, [...at, "when", wi], "needs values or notValues");
    });
  });
}

function checkRequestAuthentication(r: AnyResource, out: SchemaViolation[]) {
  checkTargeting(r, out);
  ((r.spec as Obj).jwtRules ?? []).forEach((rule: Obj, i: number) => {
    const at: FieldPath = ["spec", "jwtRules", i];
    if (!rule.issuer) v(out, [...at, "issuer"], "required field is missing");
    if (rule.jwks && rule.jwksUri) v(out, [...at, "jwks"], "jwks and jwksUri cannot both be set");
    if (rule.jwks) {
      try {
        const parsed = JSON.parse(rule.jwks);
        if (!Array.isArray(parsed.keys)) v(out, [...at, "jwks"], 'must be a JSON Web Key Set: an object with a "keys" list');
      } catch {
        v(out, [...at, "jwks"], "is not valid JSON");
      }
    }
    if (rule.jwksUri && !/^https?:\/\//.test(rule.jwksUri)) v(out, [...at, "jwksUri"], "must be an http:// or https:// URL");
  });
}

function checkPeerAuthentication(r: AnyResource, out: SchemaViolation[]) {
  const s = r.spec as Obj;
  if (s.portLevelMtls && !s.selector) v(out, ["spec", "portLevelMtls"], "requires a workload selector (port numbers are per workload)");
  for (const port of Object.keys(s.portLevelMtls ?? {})) {
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) v(out, ["spec", "portLevelMtls", port], `"${port}" is not a port number`);
  }
}

// --- Envoy Gateway -------------------------------------------------------------------

function checkBackendTrafficPolicy(r: AnyResource, out: SchemaViolation[]) {
  const s = r.spec as Obj;
  if (!s.targetRef && !(s.targetRefs?.length > 0) && !(s.targetSelectors?.length > 0)) {
    v(out, ["spec", "targetRefs"], "one of targetRef, targetRefs or targetSelectors is required");
  }
  // Envoy Gateway's CRD: mergeType merges a route's policy into its Gateway's, so it only means something on a route.
  const refs: Obj[] = [...(s.targetRef ? [s.targetRef] : []), ...(s.targetRefs ?? [])];
  if (s.mergeType !== undefined && refs.some((t) => t.kind === "Gateway")) v(out, ["spec", "mergeType"], "may only be set when the policy targets routes (HTTPRoute, GRPCRoute)");
}

// --- meshgate ------------------------------------------------------------------------

/**
 * The shortest workloadCertTTL. SVIDs are renewed at half life, X.509 times hold whole
 * seconds (a lifetime loses up to 1 s), and a renewal must reach every proxy before the
 * previous certificate expires: 10 s leaves at least 4 s for that. Shorter lifetimes
 * would expire in flight, and zero would renew without end.
 */
export const MIN_WORKLOAD_CERT_TTL_MS = 10_000;

function checkMesh(r: AnyResource, out: SchemaViolation[]) {
  const spec = r.spec as Obj;
  const ttl: unknown = spec.workloadCertTTL;
  if (typeof ttl === "string" && (parseDurationMs(ttl) ?? MIN_WORKLOAD_CERT_TTL_MS) < MIN_WORKLOAD_CERT_TTL_MS) {
    v(out, ["spec", "workloadCertTTL"], `${ttl} is shorter than the minimum of ${MIN_WORKLOAD_CERT_TTL_MS / 1000}s (SVIDs are renewed at half life and must reach every proxy before the previous one expires)`);
  }
  const ca = spec.ca;
  if (ca?.mode === "Provided" && !ca.path) v(out, ["spec", "ca", "path"], "required when ca.mode is Provided (a directory with ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)");
  if (ca?.mode !== "Provided" && ca?.path) v(out, ["spec", "ca", "path"], "only used when ca.mode is Provided");
}
