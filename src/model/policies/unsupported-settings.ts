// Settings of the standard policy kinds that meshgate does not implement. Each is reported
// as MG_UNSUPPORTED with its field path, so nothing a user wrote is silently ignored:
// - BackendTrafficPolicy: everything outside the allow-list below (the translator reads
//   exactly these fields). Non-blocking: the policy is not Accepted and applies nothing,
//   as a Gateway API controller does with a policy it cannot honour.
// - Istio security: settings whose absence would change who is let in (a dropped
//   serviceAccounts list widens an ALLOW; a dropped RequestAuthentication stops claims from
//   being verified), so these are blocking.

import type { FieldPath } from "../../config/source-position.js";
import type { AnyResource } from "../resource.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface UnsupportedSetting {
  readonly path: FieldPath;
  readonly message: string;
}

/**
 * A supported field: a leaf (`true`) or an object (or list of objects) with these fields.
 * Durations need no check here: the CRD schema already holds them to Gateway API's form.
 */
type Shape = true | { readonly [field: string]: Shape };

const TARGET_REF: Shape = { group: true, kind: true, name: true };
const RATE_LIMIT_RULE: Shape = {
  clientSelectors: {
    headers: { name: true, type: true, value: true, invert: true },
    methods: { value: true, invert: true },
    path: { type: true, value: true, invert: true },
    sourceCIDR: { type: true, value: true },
  },
  limit: { requests: true, unit: true },
  shared: true,
};

/** Every BackendTrafficPolicy field the translator honours. */
const BTP_SUPPORTED: Shape = {
  targetRef: TARGET_REF,
  targetRefs: TARGET_REF,
  targetSelectors: true, // reported on its own in build-policies
  mergeType: true,
  rateLimit: { type: true, local: { rules: RATE_LIMIT_RULE }, global: { rules: RATE_LIMIT_RULE } },
  retry: {
    numRetries: true,
    retryOn: { triggers: true, httpStatusCodes: true },
    perRetry: { timeout: true, backOff: { baseInterval: true, maxInterval: true } },
  },
  timeout: { http: { requestTimeout: true }, tcp: { connectTimeout: true } },
  circuitBreaker: { maxConnections: true, maxPendingRequests: true, maxParallelRequests: true, maxParallelRetries: true },
  healthCheck: {
    passive: { consecutive5XxErrors: true, consecutiveGatewayErrors: true, interval: true, baseEjectionTime: true, maxEjectionPercent: true },
    active: { type: true, http: { path: true, expectedStatuses: true }, interval: true, timeout: true, unhealthyThreshold: true, healthyThreshold: true },
  },
  loadBalancer: { type: true },
};

const LOAD_BALANCERS = ["RoundRobin", "LeastRequest", "Random"];
const RATE_LIMIT_UNITS = ["Second", "Minute", "Hour", "Day"];

export function unsupportedBackendTrafficSettings(p: AnyResource): UnsupportedSetting[] {
  const out: UnsupportedSetting[] = [];
  walk(p.spec, BTP_SUPPORTED, ["spec"], out);
  const s = p.spec as Obj;
  const lb = s.loadBalancer?.type;
  if (lb !== undefined && !LOAD_BALANCERS.includes(lb)) {
    const why = lb === "ConsistentHash" ? "ConsistentHash load balancing (session affinity) is not supported" : `load balancer type ${lb} is not supported`;
    out.push({ path: ["spec", "loadBalancer", "type"], message: `${why}; use RoundRobin, LeastRequest or Random` });
  }
  const active = s.healthCheck?.active;
  if (active && active.type !== "HTTP") {
    out.push({ path: ["spec", "healthCheck", "active", "type"], message: `active health checks of type ${active.type} are not supported; use HTTP` });
  }
  for (const scope of ["local", "global"] as const) {
    ((s.rateLimit?.[scope]?.rules ?? []) as Obj[]).forEach((rule, ri) => {
      const at: FieldPath = ["spec", "rateLimit", scope, "rules", ri];
      const unit = rule.limit?.unit;
      if (unit !== undefined && !RATE_LIMIT_UNITS.includes(unit)) {
        out.push({ path: [...at, "limit", "unit"], message: `rate limit unit ${unit} is not supported; use Second, Minute, Hour or Day` });
      }
      ((rule.clientSelectors ?? []) as Obj[]).forEach((sel, si) => {
        ((sel.methods ?? []) as Obj[]).forEach((m, mi) => {
          if (m.invert === true) out.push({ path: [...at, "clientSelectors", si, "methods", mi, "invert"], message: "inverted method matches are not supported" });
        });
        if (sel.path?.invert === true) out.push({ path: [...at, "clientSelectors", si, "path", "invert"], message: "inverted path matches are not supported" });
      });
    });
  }
  return out;
}

function walk(value: unknown, shape: Shape, path: FieldPath, out: UnsupportedSetting[]): void {
  if (shape === true || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, shape, [...path, i], out));
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    const next = shape[key];
    if (next === undefined) out.push({ path: [...path, key], message: `${key} is not supported by meshgate; remove it (the policy is not applied while it is set)` });
    else walk(child, next, [...path, key], out);
  }
}

/** Istio security settings the translator cannot express; each would change who is let in. */
export function unsupportedIstioSecuritySettings(p: AnyResource): UnsupportedSetting[] {
  const out: UnsupportedSetting[] = [];
  const s = p.spec as Obj;
  const refs: [Obj, FieldPath][] = [];
  if (s.targetRef) refs.push([s.targetRef, ["spec", "targetRef"]]);
  ((s.targetRefs ?? []) as Obj[]).forEach((t, i) => refs.push([t, ["spec", "targetRefs", i]]));
  for (const [ref, at] of refs) {
    if (ref.namespace !== undefined && ref.namespace !== p.namespace) {
      out.push({ path: [...at, "namespace"], message: `targets in another namespace (${ref.namespace}) are not supported; put the policy in ${ref.namespace}` });
    }
  }
  if (p.kind === "AuthorizationPolicy") {
    ((s.rules ?? []) as Obj[]).forEach((rule, ri) => {
      ((rule.from ?? []) as Obj[]).forEach((f, fi) => {
        for (const key of ["serviceAccounts", "notServiceAccounts"]) {
          if (f.source?.[key] !== undefined) {
            out.push({ path: ["spec", "rules", ri, "from", fi, "source", key], message: `${key} is not supported; name the identities with ${key === "serviceAccounts" ? "principals" : "notPrincipals"} (e.g. cluster.local/ns/<namespace>/sa/<name>)` });
          }
        }
      });
    });
  }
  if (p.kind === "RequestAuthentication") {
    ((s.jwtRules ?? []) as Obj[]).forEach((rule, i) => {
      const at: FieldPath = ["spec", "jwtRules", i];
      if (rule.jwks === undefined && rule.jwksUri === undefined && rule.jwks_uri === undefined) {
        out.push({ path: [...at, "issuer"], message: "finding the keys by OpenID discovery is not supported; set jwksUri (or jwks)" });
      }
      if (rule.timeout !== undefined) out.push({ path: [...at, "timeout"], message: "a JWKS fetch timeout is not supported; remove timeout" });
      if (rule.spaceDelimitedClaims !== undefined) out.push({ path: [...at, "spaceDelimitedClaims"], message: "spaceDelimitedClaims is not supported" });
    });
  }
  return out;
}
