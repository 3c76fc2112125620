// BackendTrafficPolicy -> per-route settings (rate limits, retries, timeouts) and
// per-cluster settings (circuit breakers, outlier detection, health checks, load balancing).
//
// Which policy applies (Envoy Gateway's semantics):
// - a policy targeting the route wins over one targeting the route's Gateway; by default it
//   replaces it whole. With `mergeType` (StrategicMerge or JSONMerge) it is merged onto the
//   Gateway's policy instead: objects merge field by field, the route's value wins, lists
//   (rate limit rules, retry triggers, status codes) are replaced whole, `null` removes;
// - several policies targeting the same route (or Gateway): the oldest wins
//   (creationTimestamp, then namespace/name);
// - only Accepted policies apply: the model refuses (MG_UNSUPPORTED, Accepted=False) every
//   field this file does not read, so nothing is dropped silently.
// Defaults are Envoy Gateway's (CRD defaults), filled in here so every consumer agrees.

import type { IrCircuitBreakers, IrGlobalRateLimit, IrHealthCheck, IrLoadBalancer, IrLocalRateLimit, IrOutlierDetection, IrRateLimitClientSelector, IrRateLimitRule, IrRetry } from "../ir/index.js";
import { TranslateUnsupportedError } from "../errors.js";
import { parseDurationMs } from "../model/duration.js";
import type { GatewayModel, Model, PolicyModel, RouteModel } from "../model/index.js";
import { oldestFirst, qualifiedName } from "./policy-order.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface RouteTrafficSettings {
  readonly localRateLimit?: IrLocalRateLimit;
  readonly globalRateLimit?: IrGlobalRateLimit;
  readonly retry?: IrRetry;
  readonly timeoutMs?: number;
}

export interface ClusterTrafficSettings {
  /** Distinguishes clusters that differ only by policy: appended to the cluster name. */
  readonly key: string;
  readonly circuitBreakers?: IrCircuitBreakers;
  readonly outlierDetection?: IrOutlierDetection;
  readonly healthCheck?: IrHealthCheck;
  readonly loadBalancer?: IrLoadBalancer;
  readonly connectTimeoutMs?: number;
}

/** Settings of the policies targeting this route (or, less specific, its Gateway). */
export function routeTrafficSettings(model: Model, route: RouteModel, gateway: GatewayModel | undefined): RouteTrafficSettings {
  const eff = effectivePolicy(model, route, gateway);
  if (!eff) return {};
  const { spec } = eff;
  const rl = spec.rateLimit as Obj | undefined;
  const local = rl?.local ? { rules: rateLimitRules(rl.local.rules, eff.sourceOf("rateLimit", "local"), route) } : undefined;
  const globalFrom = eff.sourceOf("rateLimit", "global");
  // One rate limit domain per policy: `<namespace>/<name>`.
  const global = rl?.global ? { domain: globalFrom, rules: rateLimitRules(rl.global.rules, globalFrom, route) } : undefined;
  const retry = spec.retry ? toRetry(spec.retry) : undefined;
  const timeoutMs = duration(spec.timeout?.http?.requestTimeout);
  return {
    ...(local ? { localRateLimit: local } : {}),
    ...(global ? { globalRateLimit: global } : {}),
    ...(retry ? { retry } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };
}

/** Cluster settings for the backends of this route, undefined when no policy applies. */
export function clusterTrafficSettings(model: Model, route: RouteModel, gateway: GatewayModel | undefined): ClusterTrafficSettings | undefined {
  const eff = effectivePolicy(model, route, gateway);
  if (!eff) return undefined;
  const { spec } = eff;
  const circuitBreakers = spec.circuitBreaker ? toCircuitBreakers(spec.circuitBreaker) : undefined;
  const outlierDetection = spec.healthCheck?.passive ? toOutlierDetection(spec.healthCheck.passive) : undefined;
  const healthCheck = spec.healthCheck?.active ? toHealthCheck(spec.healthCheck.active) : undefined;
  const loadBalancer = spec.loadBalancer?.type !== undefined ? toLoadBalancer(spec.loadBalancer.type, eff.key) : undefined;
  const connectTimeoutMs = duration(spec.timeout?.tcp?.connectTimeout);
  if (!circuitBreakers && !outlierDetection && !healthCheck && !loadBalancer && connectTimeoutMs === undefined) return undefined;
  return {
    key: eff.key,
    ...(circuitBreakers ? { circuitBreakers } : {}),
    ...(outlierDetection ? { outlierDetection } : {}),
    ...(healthCheck ? { healthCheck } : {}),
    ...(loadBalancer ? { loadBalancer } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
  };
}

// --- which policy ----------------------------------------------------------------------

interface EffectivePolicy {
  /** The settings that apply (a route policy merged onto its Gateway's when asked to). */
  readonly spec: Obj;
  /** `btp:<ns>/<name>`, or `btp:<route policy>+<gateway policy>` when merged. */
  readonly key: string;
  /** `<ns>/<name>` of the policy a field (by path) came from. */
  sourceOf(...path: string[]): string;
}

const SETTINGS = ["rateLimit", "retry", "timeout", "circuitBreaker", "healthCheck", "loadBalancer"] as const;

function effectivePolicy(model: Model, route: RouteModel, gateway: GatewayModel | undefined): EffectivePolicy | undefined {
  const routePolicy = winner(model, (t) => t.kind === route.kind && t.namespace === route.resource.namespace && t.name === route.resource.name);
  const gwPolicy = gateway ? winner(model, (t) => t.kind === "Gateway" && t.namespace === gateway.resource.namespace && t.name === gateway.resource.name) : undefined;
  if (routePolicy && gwPolicy && (routePolicy.resource.spec as Obj).mergeType !== undefined) {
    const r = settingsOf(routePolicy);
    const g = settingsOf(gwPolicy);
    return {
      spec: mergePatch(g, r) as Obj,
      key: `btp:${qualifiedName(routePolicy)}+${qualifiedName(gwPolicy)}`,
      sourceOf: (...path) => qualifiedName(path.reduce<unknown>((o, k) => (o as Obj | undefined)?.[k], r) !== undefined ? routePolicy : gwPolicy),
    };
  }
  const only = routePolicy ?? gwPolicy;
  if (!only) return undefined;
  return { spec: settingsOf(only), key: `btp:${qualifiedName(only)}`, sourceOf: () => qualifiedName(only) };
}

function winner(model: Model, isTarget: (t: PolicyModel["targets"][number]) => boolean): PolicyModel | undefined {
  return model.policies
    .filter((p) => p.resource.kind === "BackendTrafficPolicy" && accepted(p) && p.targets.some(isTarget))
    .sort(oldestFirst)[0];
}

function accepted(p: PolicyModel): boolean {
  return p.conditions.find((c) => c.type === "Accepted")?.status === "True";
}

function settingsOf(p: PolicyModel): Obj {
  const spec = p.resource.spec as Obj;
  return Object.fromEntries(SETTINGS.filter((k) => spec[k] !== undefined).map((k) => [k, spec[k]]));
}

/** JSON merge patch (RFC 7386): objects merge recursively, anything else replaces, null removes. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Obj = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// --- route settings --------------------------------------------------------------------

/**
 * Rule ids name the policy and rule; each route gets its own counters (Envoy Gateway:
 * a limit on a Gateway applies to each of its routes separately), so the id names the
 * route too unless the rule is `shared` across the policy's targets.
 */
function rateLimitRules(rules: Obj[] | undefined, policy: string, route: RouteModel): IrRateLimitRule[] {
  const routeId = `${route.kind.toLowerCase()}/${route.resource.namespace}/${route.resource.name}`;
  return (rules ?? []).map((r, i) => ({
    id: r.shared === true ? `${policy}/rule/${i}` : `${policy}/rule/${i}/${routeId}`,
    clientSelectors: ((r.clientSelectors ?? []) as Obj[]).map(toClientSelector),
    requests: r.limit.requests,
    unit: r.limit.unit,
  }));
}

function toClientSelector(s: Obj): IrRateLimitClientSelector {
  const headers = ((s.headers ?? []) as Obj[]).map((h) => {
    const kind: "Exact" | "RegularExpression" | "Distinct" = h.type ?? "Exact";
    return {
      name: String(h.name).toLowerCase(),
      kind,
      ...(kind !== "Distinct" && h.value !== undefined ? { value: h.value as string } : {}),
      ...(h.invert === true ? { invert: true } : {}),
    };
  });
  return {
    headers,
    ...(s.sourceCIDR ? { sourceCidr: { cidr: s.sourceCIDR.value as string, distinct: s.sourceCIDR.type === "Distinct" } } : {}),
    ...(s.methods ? { methods: (s.methods as Obj[]).map((m) => m.value as string) } : {}),
    ...(s.path ? { path: { kind: s.path.type ?? "PathPrefix", value: s.path.value ?? "/" } } : {}),
  };
}

/** Envoy Gateway's retry defaults: 2 retries on connection-level failures and 503. */
const DEFAULT_RETRY_ON = ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"];
const DEFAULT_RETRY_STATUS = [503];
/** Envoy's back-off defaults: 25 ms base, ten times the base at most. */
const DEFAULT_BACKOFF_BASE_MS = 25;

function toRetry(r: Obj): IrRetry {
  const retryOn = r.retryOn as Obj | undefined;
  const codes: number[] | undefined = retryOn ? retryOn.httpStatusCodes : DEFAULT_RETRY_STATUS;
  // Status codes only take effect with the retriable-status-codes trigger, so listed codes
  // always bring it along (with or without other triggers), as in Envoy Gateway.
  const triggers: string[] = retryOn ? (retryOn.triggers ?? []) : DEFAULT_RETRY_ON;
  const on = codes?.length && !triggers.includes("retriable-status-codes") ? [...triggers, "retriable-status-codes"] : triggers;
  const perTryTimeoutMs = duration(r.perRetry?.timeout);
  const backOff = r.perRetry?.backOff as Obj | undefined;
  let backoff: IrRetry["backoff"];
  if (backOff && (backOff.baseInterval !== undefined || backOff.maxInterval !== undefined)) {
    const baseMs = duration(backOff.baseInterval) ?? DEFAULT_BACKOFF_BASE_MS;
    backoff = { baseMs, maxMs: duration(backOff.maxInterval) ?? baseMs * 10 };
  }
  return {
    attempts: r.numRetries ?? 2,
    on,
    ...(codes && codes.length > 0 ? { statusCodes: codes } : {}),
    ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
    ...(backoff ? { backoff } : {}),
  };
}

// --- cluster settings ------------------------------------------------------------------

const DEFAULT_CIRCUIT_LIMIT = 1024;

function toCircuitBreakers(c: Obj): IrCircuitBreakers {
  return {
    maxConnections: c.maxConnections ?? DEFAULT_CIRCUIT_LIMIT,
    maxPendingRequests: c.maxPendingRequests ?? DEFAULT_CIRCUIT_LIMIT,
    maxRequests: c.maxParallelRequests ?? DEFAULT_CIRCUIT_LIMIT,
    maxRetries: c.maxParallelRetries ?? DEFAULT_CIRCUIT_LIMIT,
  };
}

function toOutlierDetection(p: Obj): IrOutlierDetection {
  // consecutiveGatewayErrors defaults to 0 in Envoy Gateway: not enforced, so left out.
  return {
    consecutive5xx: p.consecutive5XxErrors ?? 5,
    ...(p.consecutiveGatewayErrors ? { consecutiveGatewayErrors: p.consecutiveGatewayErrors as number } : {}),
    intervalMs: duration(p.interval) ?? 3000,
    baseEjectionTimeMs: duration(p.baseEjectionTime) ?? 30_000,
    maxEjectionPercent: p.maxEjectionPercent ?? 10,
  };
}

function toHealthCheck(a: Obj): IrHealthCheck {
  return {
    path: a.http.path,
    intervalMs: duration(a.interval) ?? 3000,
    timeoutMs: duration(a.timeout) ?? 1000,
    unhealthyThreshold: a.unhealthyThreshold ?? 3,
    healthyThreshold: a.healthyThreshold ?? 1,
    expectedStatuses: a.http.expectedStatuses ?? [200],
  };
}

const LOAD_BALANCERS: Record<string, IrLoadBalancer> = { RoundRobin: "ROUND_ROBIN", LeastRequest: "LEAST_REQUEST", Random: "RANDOM" };

function toLoadBalancer(type: string, key: string): IrLoadBalancer {
  const lb = LOAD_BALANCERS[type];
  // The model refuses other types (ConsistentHash needs session affinity we do not build).
  if (!lb) throw new TranslateUnsupportedError(`BackendTrafficPolicy ${key.slice("btp:".length)}`, `load balancer type ${type} is not supported`);
  return lb;
}

function duration(d: unknown): number | undefined {
  return typeof d === "string" ? parseDurationMs(d) : undefined;
}
