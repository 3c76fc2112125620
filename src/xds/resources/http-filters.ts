// The HTTP filter chain of a connection manager, in the order the filters run:
// jwt_authn, rbac (LOG, DENY, ALLOW), local_ratelimit, ratelimit, router.

import type { IrHttpFilters, IrJwtAuthn, IrJwtProvider } from "../../ir/index.js";
import { ANY_TYPES, duration, FILTER_NAMES, JWT_PAYLOAD_METADATA_KEY, type Json } from "./common.js";
import { jwksClusterName } from "./cluster.js";
import { rbacFilters } from "./rbac.js";

export interface HttpFilterOptions {
  /** Routes of this listener's route table carry local rate limits (the filter must be present for them to apply). */
  readonly routesHaveLocalRateLimits: boolean;
  /**
   * API listeners (proxyless gRPC): gRPC rejects a listener whose filters it does not
   * know unless they are marked optional; it runs none of these filters client-side.
   */
  readonly optionalExceptRouter: boolean;
}

/** How long the proxy waits for a remote JWKS or the rate limit service. */
const JWKS_FETCH_TIMEOUT_MS = 5_000;
const JWKS_CACHE_MS = 300_000;
const RATE_LIMIT_SERVICE_TIMEOUT_MS = 1_000;

export function httpFilters(f: IrHttpFilters, options: HttpFilterOptions): Json[] {
  const filters: Json[] = [];
  if (f.jwtAuthn && f.jwtAuthn.providers.length > 0) filters.push(jwtAuthnFilter(f.jwtAuthn));
  if (f.authorization) filters.push(...rbacFilters(f.authorization, { issuers: f.jwtAuthn?.providers.map((p) => p.issuer) ?? [] }));
  if (f.localRateLimit || options.routesHaveLocalRateLimits) filters.push(localRateLimitFilter());
  if (f.globalRateLimit) {
    filters.push({
      name: FILTER_NAMES.rateLimit,
      typedConfig: {
        "@type": ANY_TYPES.rateLimit,
        domain: f.globalRateLimit.domain,
        // Global rules travel in the routes' rateLimits at stage 0, local ones at stage 1.
        stage: 0,
        timeout: duration(RATE_LIMIT_SERVICE_TIMEOUT_MS),
        // An unreachable rate limit service lets traffic through (Envoy Gateway's default):
        // an outage of the service must not take every route with a limit down with it.
        failureModeDeny: false,
        // Only changes gRPC requests: a limited call ends RESOURCE_EXHAUSTED (what gRPC
        // defines for quota errors) instead of UNAVAILABLE, which clients would retry.
        rateLimitedAsResourceExhausted: true,
        // x-ratelimit-limit, -remaining and -reset (draft-polli-ratelimit-headers-03), as
        // Envoy Gateway sets them: clients learn the limit and when it resets.
        enableXRatelimitHeaders: "DRAFT_VERSION_03",
        rateLimitService: { grpcService: { envoyGrpc: { clusterName: f.globalRateLimit.serviceCluster } }, transportApiVersion: "V3" },
      },
    });
  }
  const chain: Json[] = options.optionalExceptRouter ? filters.map((x): Json => ({ ...x, isOptional: true })) : filters;
  chain.push({ name: FILTER_NAMES.router, typedConfig: { "@type": ANY_TYPES.router } });
  return chain;
}

/**
 * The listener-level local rate limiter does nothing by itself: each route's
 * typedPerFilterConfig brings its token buckets (route-configuration.ts), so listener-wide
 * limits become per-route limits on every route of the listener's table.
 */
function localRateLimitFilter(): Json {
  return { name: FILTER_NAMES.localRateLimit, typedConfig: { "@type": ANY_TYPES.localRateLimit, statPrefix: "http_local_rate_limiter" } };
}

/**
 * Istio RequestAuthentication: a token, when present, must be valid for one of the
 * providers (401 otherwise); a request without a token goes on unauthenticated.
 */
export function jwtAuthnFilter(authn: IrJwtAuthn): Json {
  const providers: Record<string, Json> = {};
  for (const p of authn.providers) providers[p.name] = jwtProvider(p);
  return {
    name: FILTER_NAMES.jwtAuthn,
    typedConfig: {
      "@type": ANY_TYPES.jwtAuthn,
      providers,
      rules: [
        {
          match: { prefix: "/" },
          requires: { requiresAny: { requirements: [...authn.providers.map((p) => ({ providerName: p.name })), { allowMissing: {} }] } },
        },
      ],
    },
  };
}

function jwtProvider(p: IrJwtProvider): Json {
  const out: Json = { issuer: p.issuer };
  if (p.audiences.length > 0) out.audiences = [...p.audiences];
  if ("inline" in p.jwks) out.localJwks = { inlineString: p.jwks.inline };
  else {
    out.remoteJwks = {
      httpUri: { uri: p.jwks.uri, cluster: jwksClusterName(p.jwks.uri), timeout: duration(JWKS_FETCH_TIMEOUT_MS) },
      cacheDuration: duration(JWKS_CACHE_MS),
    };
  }
  // Nothing listed: Envoy's default places (Authorization: Bearer, access_token param).
  if (p.fromHeaders.length > 0) out.fromHeaders = p.fromHeaders.map((h) => (h.prefix !== undefined ? { name: h.name, valuePrefix: h.prefix } : { name: h.name }));
  if (p.fromParams.length > 0) out.fromParams = [...p.fromParams];
  if (p.fromCookies.length > 0) out.fromCookies = [...p.fromCookies];
  if (p.forwardOriginalToken) out.forward = true;
  if (p.outputPayloadToHeader) out.forwardPayloadHeader = p.outputPayloadToHeader;
  out.payloadInMetadata = JWT_PAYLOAD_METADATA_KEY;
  if (p.outputClaimToHeaders.length > 0) out.claimToHeaders = p.outputClaimToHeaders.map((c) => ({ headerName: c.header, claimName: c.claim }));
  return out;
}
