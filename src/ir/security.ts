// Istio security, normalised: which policies apply to a proxy is decided by the
// translator (selector / targetRef / root namespace); their rules keep Istio's structure
// so every consumer enforces exactly Istio's semantics.

/** One `from` entry: fields AND together, values within a field OR. Absent = not constrained. */
export interface IrAuthzSource {
  /**
   * Full SPIFFE IDs as the peer certificate's URI SAN carries them
   * (`spiffe://example.org/ns/a/sa/b`; the translator adds the scheme Istio leaves out and
   * resolves `cluster.local`). Wildcards: `*` (any authenticated peer), `spiffe://x*`
   * (prefix), `*x` (suffix). Consumers compare as is, adding nothing.
   */
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

/** One `to` entry. Paths and hosts support exact, prefix `x*`, suffix `*x` and `*`. */
export interface IrAuthzOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  /**
   * The port the proxy accepted the connection on (Envoy's destination port). The
   * translator maps Istio's meaning (the port the workload listens on) to it: a sidecar's
   * inbound port; 0 for ports that can never reach the proxy. Same for `destination.port`.
   */
  readonly ports?: readonly number[];
  readonly notPorts?: readonly number[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/** A `when` condition, e.g. key `request.auth.claims[groups]`. */
export interface IrAuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/** A rule matches when any `from` and any `to` match (absent list = any) and all `when` hold. */
export interface IrAuthzRule {
  readonly from?: readonly IrAuthzSource[];
  readonly to?: readonly IrAuthzOperation[];
  readonly when?: readonly IrAuthzCondition[];
}

export interface IrAuthzPolicy {
  /** `<namespace>/<name>` of the AuthorizationPolicy. */
  readonly name: string;
  readonly action: "ALLOW" | "DENY" | "AUDIT";
  /** A policy matches when any rule matches. No rules: an ALLOW matches nothing (deny all). */
  readonly rules: readonly IrAuthzRule[];
}

/** Every AuthorizationPolicy that applies to one proxy (or one of its inbound ports). */
export interface IrAuthorization {
  readonly policies: readonly IrAuthzPolicy[];
}

export interface IrJwtProvider {
  /** `<namespace>/<name>/<index>` of the RequestAuthentication rule. */
  readonly name: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Inline JWKS (a JSON string) or a URI fetched by the proxy. */
  readonly jwks: { readonly inline: string } | { readonly uri: string };
  /** Where the token is looked for; default `Authorization: Bearer`. */
  readonly fromHeaders: readonly { readonly name: string; readonly prefix?: string }[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  readonly forwardOriginalToken: boolean;
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
}

/**
 * RequestAuthentication: a request carrying a token must present a valid one from one of
 * the providers (401 otherwise); a request without a token passes on unauthenticated
 * (AuthorizationPolicy decides whether that is enough).
 */
export interface IrJwtAuthn {
  readonly providers: readonly IrJwtProvider[];
}

export type IrMtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";
