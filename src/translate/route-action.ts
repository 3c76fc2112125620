// What a matched request gets, for one rule of an HTTPRoute or GRPCRoute: filters,
// weighted backends, mirrors, timeouts and retries.
//
// - Filters we cannot honour (ExtensionRef, CORS, ExternalAuth, anything unknown) make the
//   rule answer 500 instead of being skipped: skipping an auth filter would fail open, and
//   the spec asks for a 500 when a filter cannot be applied.
// - Weights: a backendRef with weight 0 gets no traffic and is left out; an invalid one
//   keeps its weight but has no cluster, so its share of requests gets 500; when every
//   remaining backend is invalid, or none remains, the rule answers 500 directly.
// - backendRef filters: header modifiers apply to that backend's share. A RequestRedirect
//   or URLRewrite on the only backend acts for the whole rule; on one of several
//   backends it cannot be expressed per share, so that share gets 500.
// - The rule's own `timeouts` and `retry` win over BackendTrafficPolicy values, which
//   fill in what the rule leaves unset.

import type { IrHeaderModifier, IrMirror, IrPathMatch, IrRetry, IrRouteAction, IrWeightedBackend } from "../ir/index.js";
import type { BackendModel, GatewayModel, Model, RouteModel, RouteRuleModel } from "../model/index.js";
import type { ClusterContext, ClusterRegistry } from "./backends.js";
import type { ClusterTrafficSettings, RouteTrafficSettings } from "./backend-traffic-policy.js";
import { durationMs } from "./durations.js";
import { headerModifier, mergeHeaderModifiers, pathModifier, redirectAction } from "./route-filters.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Where routes are being compiled for: which proxy, which port. */
export interface RouteContext {
  readonly model: Model;
  /** The Gateway whose proxy gets these routes; undefined east-west. */
  readonly gateway: GatewayModel | undefined;
  /** The listener (or Service) port the route serves: RequestRedirect's default port. */
  readonly port: number;
  readonly clusters: ClusterRegistry;
  readonly clusterContext: ClusterContext;
}

/** Per route, computed once: the traffic policy settings. */
export interface RoutePolicies {
  readonly route: RouteTrafficSettings;
  readonly cluster: ClusterTrafficSettings | undefined;
}

export interface RuleBehaviour {
  readonly action: IrRouteAction;
  readonly requestHeaders?: IrHeaderModifier;
  readonly responseHeaders?: IrHeaderModifier;
}

const HEADER_FILTERS = new Set(["RequestHeaderModifier", "ResponseHeaderModifier"]);
const LIFTABLE_FILTERS = new Set(["RequestRedirect", "URLRewrite"]);

export function ruleBehaviour(route: RouteModel, rule: RouteRuleModel, matched: IrPathMatch, ctx: RouteContext, policies: RoutePolicies): RuleBehaviour {
  const grpc = route.kind === "GRPCRoute";
  const spec = rule.spec as Obj;
  const live = rule.backends.filter((b) => b.weight > 0);
  const sole = live.length === 1 ? live[0]! : undefined;
  const lifted = sole?.valid ? (sole.filters as Obj[]).filter((f) => LIFTABLE_FILTERS.has(f.type)) : [];
  const filters: Obj[] = [...((spec.filters ?? []) as Obj[]), ...lifted];

  let requestHeaders: IrHeaderModifier | undefined;
  let responseHeaders: IrHeaderModifier | undefined;
  let redirect: Obj | undefined;
  let rewrite: Obj | undefined;
  const mirrors: IrMirror[] = [];
  let mirrorIndex = 0;
  for (const f of filters) {
    switch (f.type) {
      case "RequestHeaderModifier":
        requestHeaders = mergeHeaderModifiers(requestHeaders, headerModifier(f.requestHeaderModifier));
        break;
      case "ResponseHeaderModifier":
        responseHeaders = mergeHeaderModifiers(responseHeaders, headerModifier(f.responseHeaderModifier));
        break;
      case "RequestRedirect":
        redirect ??= f.requestRedirect;
        break;
      case "URLRewrite":
        rewrite ??= f.urlRewrite;
        break;
      case "RequestMirror": {
        const target = rule.mirrors[mirrorIndex++];
        const cluster = target ? clusterOf(target, ctx, grpc, policies) : undefined;
        const percent = mirrorPercent(f.requestMirror);
        if (cluster) mirrors.push({ cluster, ...(percent !== undefined ? { percent } : {}) });
        break;
      }
      default:
        return { action: { kind: "direct", status: 500 } };
    }
  }
  const headers = { ...(requestHeaders ? { requestHeaders } : {}), ...(responseHeaders ? { responseHeaders } : {}) };
  if (redirect) return { action: redirectAction(redirect, matched, ctx.port), ...headers };

  const backends: IrWeightedBackend[] = live.map((b) => weightedBackend(b, b === sole, ctx, grpc, policies));
  if (backends.every((b) => b.cluster === undefined)) return { action: { kind: "direct", status: 500 }, ...headers };

  const pathRewrite = pathModifier(rewrite?.path, matched);
  const timeoutMs = durationMs(spec.timeouts?.request) ?? policies.route.timeoutMs;
  const perTryTimeoutMs = durationMs(spec.timeouts?.backendRequest);
  const retry = ruleRetry(spec.retry) ?? policies.route.retry;
  return {
    action: {
      kind: "forward",
      backends,
      ...(pathRewrite ? { pathRewrite } : {}),
      ...(typeof rewrite?.hostname === "string" ? { hostRewrite: rewrite.hostname } : {}),
      ...(mirrors.length > 0 ? { mirrors } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
      ...(retry ? { retry } : {}),
      ...(grpc ? { grpc: true } : {}),
    },
    ...headers,
  };
}

function weightedBackend(b: BackendModel, sole: boolean, ctx: RouteContext, grpc: boolean, policies: RoutePolicies): IrWeightedBackend {
  if (!b.valid) return { weight: b.weight };
  let requestHeaders: IrHeaderModifier | undefined;
  let responseHeaders: IrHeaderModifier | undefined;
  for (const f of b.filters as Obj[]) {
    if (f.type === "RequestHeaderModifier") requestHeaders = mergeHeaderModifiers(requestHeaders, headerModifier(f.requestHeaderModifier));
    else if (f.type === "ResponseHeaderModifier") responseHeaders = mergeHeaderModifiers(responseHeaders, headerModifier(f.responseHeaderModifier));
    else if (!(sole && LIFTABLE_FILTERS.has(f.type)) && !HEADER_FILTERS.has(f.type)) return { weight: b.weight };
  }
  const cluster = clusterOf(b, ctx, grpc, policies);
  return {
    ...(cluster ? { cluster } : {}),
    weight: b.weight,
    ...(requestHeaders ? { requestHeaders } : {}),
    ...(responseHeaders ? { responseHeaders } : {}),
  };
}

function clusterOf(b: BackendModel, ctx: RouteContext, grpc: boolean, policies: RoutePolicies): string | undefined {
  if (!b.valid) return undefined;
  return ctx.clusters.serviceCluster(b.service, b.port, ctx.clusterContext, { grpc, traffic: policies.cluster });
}

/** `percent`, or `fraction` (numerator / denominator, default 100) as a percentage. */
function mirrorPercent(spec: Obj | undefined): number | undefined {
  if (typeof spec?.percent === "number") return spec.percent;
  const f = spec?.fraction;
  if (f && typeof f.numerator === "number") return (f.numerator / (typeof f.denominator === "number" && f.denominator > 0 ? f.denominator : 100)) * 100;
  return undefined;
}

/**
 * HTTPRoute `retry` (GEP-1731): `attempts` retries (1 when unset) on connection errors,
 * resets and refused streams, plus the listed status `codes`; `backoff` is the base
 * interval, capped at ten times that (Envoy's own default cap).
 */
function ruleRetry(spec: Obj | undefined): IrRetry | undefined {
  if (!spec) return undefined;
  const codes: number[] = Array.isArray(spec.codes) ? spec.codes : [];
  const baseMs = durationMs(spec.backoff);
  return {
    attempts: typeof spec.attempts === "number" ? spec.attempts : 1,
    on: [...(codes.length > 0 ? ["retriable-status-codes"] : []), "connect-failure", "refused-stream", "reset"],
    ...(codes.length > 0 ? { statusCodes: codes } : {}),
    ...(baseMs !== undefined && baseMs > 0 ? { backoff: { baseMs, maxMs: baseMs * 10 } } : {}),
  };
}
