// Small pieces every resource builder uses: type URLs of the messages packed into Any
// fields, well-known filter names, Durations, the ADS config source and string matchers.

/** A plain object in the shape `encodeResource` takes (camelCase fields, Any as `@type`). */
export type Json = Record<string, unknown>;

export const ANY_TYPES = {
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  rbac: "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
  jwtAuthn: "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
  localRateLimit: "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
  rateLimit: "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
  rateLimitPerRoute: "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute",
  tlsInspector: "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  downstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  upstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  httpProtocolOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  filterConfig: "type.googleapis.com/envoy.config.route.v3.FilterConfig",
  leastRequest: "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  random: "type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random",
  roundRobin: "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
} as const;

/** Filter names; per-route filter configs (typedPerFilterConfig) are keyed by them. */
export const FILTER_NAMES = {
  hcm: "envoy.filters.network.http_connection_manager",
  tlsInspector: "envoy.filters.listener.tls_inspector",
  tlsTransport: "envoy.transport_sockets.tls",
  jwtAuthn: "envoy.filters.http.jwt_authn",
  rbacAudit: "envoy.filters.http.rbac.audit",
  rbacDeny: "envoy.filters.http.rbac.deny",
  rbacAllow: "envoy.filters.http.rbac.allow",
  localRateLimit: "envoy.filters.http.local_ratelimit",
  rateLimit: "envoy.filters.http.ratelimit",
  router: "envoy.filters.http.router",
} as const;

/**
 * Every JWT provider writes its verified payload into dynamic metadata of the jwt_authn
 * filter under this one key, so RBAC can match request principals, audiences and claims
 * without knowing which provider verified the token.
 */
export const JWT_PAYLOAD_METADATA_KEY = "jwt_payload";

/** Milliseconds as a google.protobuf.Duration. */
export function duration(ms: number): Json {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1_000_000);
  return nanos === 0 ? { seconds } : { seconds, nanos };
}

/** Everything is fetched over the one ADS stream the proxy opened. */
export const ADS_CONFIG_SOURCE: Json = { ads: {}, resourceApiVersion: "V3" };

export function sdsSecretConfig(name: string): Json {
  return { name, sdsConfig: ADS_CONFIG_SOURCE };
}

/** A `value` wrapper (UInt32Value, BoolValue). */
export function wrap<T>(value: T): Json {
  return { value };
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** IR Exact / RegularExpression as a StringMatcher. */
export function stringMatcher(m: { readonly kind: "Exact" | "RegularExpression"; readonly value: string }): Json {
  return m.kind === "Exact" ? { exact: m.value } : { safeRegex: { regex: m.value } };
}

/**
 * Istio's value syntax: `*` any (non-empty), `x*` prefix, `*x` suffix, otherwise exact.
 */
export function istioStringMatcher(value: string, options: { ignoreCase?: boolean } = {}): Json {
  const ic = options.ignoreCase ? { ignoreCase: true } : {};
  if (value === "*") return { safeRegex: { regex: ".+" } };
  if (value.endsWith("*")) return { prefix: value.slice(0, -1), ...ic };
  if (value.startsWith("*")) return { suffix: value.slice(1), ...ic };
  return { exact: value, ...ic };
}
