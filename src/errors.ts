// Typed errors with stable codes, so callers (and scripts reading `--output json`)
// can switch on `err.code` instead of matching message text. docs/errors.md lists every
// code; a test keeps that page in sync with this file.

export type ErrorCode =
  // configuration sources
  | "ERR_CONFIG_PATH_NOT_FOUND"
  | "ERR_CONFIG_READ"
  // command line
  | "ERR_USAGE"
  // PKI and trust
  | "ERR_TRUST_DOMAIN_INVALID"
  | "ERR_SPIFFE_ID_INVALID"
  | "ERR_PKI_ID_OUTSIDE_TRUST_DOMAIN"
  | "ERR_PKI_CSR_INVALID"
  | "ERR_PKI_KEY_UNSUPPORTED"
  | "ERR_PKI_KEY_MISMATCH"
  | "ERR_PKI_KEY_PASSPHRASE"
  | "ERR_PKI_PEM_INVALID"
  | "ERR_PKI_LAYOUT_INVALID"
  | "ERR_PKI_BUNDLE_SOURCE"
  | "ERR_PKI_CHAIN_UNTRUSTED"
  | "ERR_PKI_ROTATION_STATE"
  // the control plane's certificate authority
  | "ERR_MESH_CA"
  // translation
  | "ERR_TRANSLATE_UNSUPPORTED"
  | "ERR_TRANSLATE_OPTION_INVALID"
  // xDS resources
  | "ERR_XDS_UNSUPPORTED"
  | "ERR_XDS_TRUST_DOMAIN_UNKNOWN"
  // xDS server and proxy status
  | "ERR_XDS_LISTEN"
  | "ERR_XDS_TLS_CONFIG"
  // the proxy's xDS client
  | "ERR_XDS_RESPONSE_INVALID"
  | "ERR_ADMIN_UNREACHABLE"
  // meshgate's proxy
  | "ERR_PROXY_FILTER_UNSUPPORTED"
  | "ERR_PROXY_HCM_UNSUPPORTED"
  // the rate limit service
  | "ERR_RATELIMIT_LISTEN"
  | "ERR_RATELIMIT_REDIS_URL"
  // meshgate's own proxy
  | "ERR_PROXY_ROUTE_UNSUPPORTED"
  // the embedded proxy
  | "ERR_PROXY_CONFIG_REJECTED"
  // the embedded proxy
  | "ERR_PROXY_LISTENER_INVALID"
  | "ERR_PROXY_LISTENER_BIND";

export class MeshgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A path given with --config does not exist. */
export class ConfigPathNotFoundError extends MeshgateError {
  constructor(readonly path: string) {
    super("ERR_CONFIG_PATH_NOT_FOUND", `configuration path not found: ${path}`);
  }
}

/** A configuration file exists but cannot be read. */
export class ConfigReadError extends MeshgateError {
  constructor(readonly path: string, cause: unknown) {
    super("ERR_CONFIG_READ", `cannot read ${path}: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

/** The command line itself is wrong (exit code 2). */
export class UsageError extends MeshgateError {
  constructor(message: string) {
    super("ERR_USAGE", message);
  }
}

// ---- PKI and trust ------------------------------------------------------------------
// Messages never contain key material or passphrases: they name files and identities only.

/** A trust domain name breaks the SPIFFE ID specification. */
export class TrustDomainInvalidError extends MeshgateError {
  constructor(readonly input: string, readonly reason: string) {
    super("ERR_TRUST_DOMAIN_INVALID", `invalid trust domain ${JSON.stringify(input)}: ${reason}`);
  }
}

/** A SPIFFE ID breaks the SPIFFE ID specification. */
export class SpiffeIdInvalidError extends MeshgateError {
  constructor(readonly input: string, readonly reason: string) {
    super("ERR_SPIFFE_ID_INVALID", `invalid SPIFFE ID ${JSON.stringify(input)}: ${reason}`);
  }
}

/** A CA was asked to sign an identity that belongs to another trust domain. */
export class IdOutsideTrustDomainError extends MeshgateError {
  constructor(readonly spiffeId: string, readonly trustDomain: string) {
    super("ERR_PKI_ID_OUTSIDE_TRUST_DOMAIN", `${spiffeId} is outside the CA's trust domain ${trustDomain}`);
  }
}

/** A certificate signing request is malformed or its signature does not verify. */
export class CsrInvalidError extends MeshgateError {
  constructor(readonly reason: string) {
    super("ERR_PKI_CSR_INVALID", `invalid certificate signing request: ${reason}`);
  }
}

/** A key type or signature algorithm the PKI does not accept. */
export class KeyUnsupportedError extends MeshgateError {
  constructor(readonly reason: string) {
    super("ERR_PKI_KEY_UNSUPPORTED", `unsupported key: ${reason}`);
  }
}

/** A certificate and the private key given with it do not belong together. */
export class KeyMismatchError extends MeshgateError {
  constructor(readonly certPath: string, readonly keyPath: string) {
    super("ERR_PKI_KEY_MISMATCH", `the private key in ${keyPath} does not match the certificate in ${certPath}`);
  }
}

/** An encrypted key needs a passphrase that is missing or wrong (the passphrase is never printed). */
export class KeyPassphraseError extends MeshgateError {
  constructor(readonly keyPath: string, readonly reason: string) {
    super("ERR_PKI_KEY_PASSPHRASE", `cannot decrypt ${keyPath}: ${reason}`);
  }
}

/** A file that should hold PEM certificates holds none, or a block is malformed. */
export class PemInvalidError extends MeshgateError {
  constructor(readonly path: string, readonly reason: string) {
    super("ERR_PKI_PEM_INVALID", `${path}: ${reason}`);
  }
}

/** A CA folder does not hold a complete, consistent cacerts layout. */
export class CaLayoutInvalidError extends MeshgateError {
  constructor(readonly dir: string, readonly reason: string) {
    super("ERR_PKI_LAYOUT_INVALID", `${dir}: ${reason}`);
  }
}

/** No root certificate could be extracted from a trust bundle source. */
export class BundleSourceError extends MeshgateError {
  constructor(readonly source: string, readonly reason: string) {
    super("ERR_PKI_BUNDLE_SOURCE", `${source}: ${reason}`);
  }
}

/** Why a chain does not verify; stable values, one per failure the trust doctor names. */
export type ChainFailureReason =
  | "unknown-authority"
  | "expired"
  | "not-yet-valid"
  | "missing-intermediate"
  | "bad-signature"
  | "wrong-eku"
  | "wrong-key-usage"
  | "ca-as-leaf"
  | "not-a-ca"
  | "not-an-svid"
  | "spiffe-id-mismatch"
  | "san-mismatch"
  | "outside-trust-domain"
  | "name-constraint-violated"
  | "path-length-exceeded";

/** A certificate chain does not verify against a trust bundle. */
export class ChainUntrustedError extends MeshgateError {
  constructor(readonly reason: ChainFailureReason, detail: string) {
    super("ERR_PKI_CHAIN_UNTRUSTED", `certificate chain not trusted (${reason}): ${detail}`);
  }
}

/** A rotation step was asked for in the wrong order. */
export class RotationStateError extends MeshgateError {
  constructor(readonly reason: string) {
    super("ERR_PKI_ROTATION_STATE", `rotation: ${reason}`);
  }
}

/** The control plane cannot provide a mesh's CA or issue an identity it was asked for. */
export class MeshCaError extends MeshgateError {
  constructor(readonly reason: string) {
    super("ERR_MESH_CA", reason);
  }
}

// ---- translation --------------------------------------------------------------------

/**
 * The translator met a setting it cannot compile. The model rejects every such setting
 * first, so this is a safety net: translating without it would drop a policy silently.
 */
export class TranslateUnsupportedError extends MeshgateError {
  constructor(readonly resource: string, readonly reason: string) {
    super("ERR_TRANSLATE_UNSUPPORTED", `${resource}: ${reason}`);
  }
}

/** A translate option (e.g. the rate limit service address) is not usable. */
export class TranslateOptionInvalidError extends MeshgateError {
  constructor(readonly option: string, readonly reason: string) {
    super("ERR_TRANSLATE_OPTION_INVALID", `translate option ${option}: ${reason}`);
  }
}

// ---- xDS resources -------------------------------------------------------------------

/** The IR asks for something the Envoy resources cannot express (a bug in the translator or a gap here). */
export class XdsUnsupportedError extends MeshgateError {
  constructor(readonly where: string, detail: string) {
    super("ERR_XDS_UNSUPPORTED", `${where}: ${detail}`);
  }
}

/** A trust bundle was asked for a trust domain whose roots the certificate source does not hold. */
export class TrustDomainUnknownError extends MeshgateError {
  constructor(readonly trustDomain: string) {
    super("ERR_XDS_TRUST_DOMAIN_UNKNOWN", `no roots are known for trust domain ${trustDomain}`);
  }
}

// ---- xDS server -----------------------------------------------------------------------------

/** The ADS server cannot listen on its address (in use, no permission, bad host). */
export class XdsListenError extends MeshgateError {
  constructor(readonly address: string, reason: string, cause?: unknown) {
    super("ERR_XDS_LISTEN", `the xDS server cannot listen on ${address}: ${reason}`, { cause });
  }
}

/** The ADS server's mTLS material (root CA, certificate chain, key) is unusable. */
export class XdsTlsConfigError extends MeshgateError {
  constructor(reason: string, cause?: unknown) {
    super("ERR_XDS_TLS_CONFIG", `the xDS server's TLS configuration is unusable: ${reason}`, { cause });
  }
}

/** An ADS response the proxy cannot take as it is (the client NACKs it with this message). */
export class XdsResponseInvalidError extends MeshgateError {
  /** `responseType`: the xDS name of the response's type (LDS, RDS, CDS, EDS, SDS). */
  constructor(readonly responseType: string, detail: string) {
    super("ERR_XDS_RESPONSE_INVALID", `${responseType} response: ${detail}`);
  }
}

/** An HttpConnectionManager setting the proxy cannot honour (the listener is NACKed). */
export class ProxyHcmUnsupportedError extends MeshgateError {
  constructor(where: string, field: string, reason: string) {
    super("ERR_PROXY_HCM_UNSUPPORTED", `${where}: HttpConnectionManager.${field}: ${reason}`);
  }
}

/** `meshgate status` cannot read a control plane's admin endpoint. */
export class AdminUnreachableError extends MeshgateError {
  constructor(readonly url: string, reason: string) {
    super("ERR_ADMIN_UNREACHABLE", `cannot read ${url}: ${reason}`);
  }
}

// ---- meshgate's proxy -----------------------------------------------------------------

/**
 * An HTTP filter's config (or a route's per-filter config or rate limit actions) asks for
 * something the proxy cannot honour: the xDS client NACKs the resource with this message.
 */
export class ProxyFilterUnsupportedError extends MeshgateError {
  constructor(readonly filter: string, readonly field: string, reason: string) {
    super("ERR_PROXY_FILTER_UNSUPPORTED", `http filter ${filter}: ${field}: ${reason}`);
  }
}

// ---- the rate limit service -------------------------------------------------------------

/** The rate limit service cannot listen on its address. */
export class RateLimitListenError extends MeshgateError {
  constructor(readonly address: string, reason: string, cause?: unknown) {
    super("ERR_RATELIMIT_LISTEN", `the rate limit service cannot listen on ${address}: ${reason}`, { cause });
  }
}

/** The Redis URL given for the rate limit service's counters is not usable (never echoes a password). */
export class RateLimitRedisUrlError extends MeshgateError {
  constructor(reason: string) {
    super("ERR_RATELIMIT_REDIS_URL", `the Redis URL for global rate limits is not usable: ${reason}`);
  }
}

// ---- meshgate's own proxy --------------------------------------------------------------

/**
 * A RouteConfiguration asks for something the proxy's router cannot honour. The xDS
 * client NACKs the update with this message and keeps serving the previous configuration.
 */
export class ProxyRouteUnsupportedError extends MeshgateError {
  constructor(readonly where: string, readonly field: string, reason: string) {
    super("ERR_PROXY_ROUTE_UNSUPPORTED", `${where}: ${field}: ${reason}`);
  }
}

/**
 * A resource the proxy received asks for something it cannot honour (an unknown field, an
 * unsupported value, unusable key material). The xDS client NACKs the update with this
 * message and keeps serving the previous configuration.
 */
export class ProxyConfigRejectedError extends MeshgateError {
  constructor(readonly resource: string, readonly field: string, reason: string) {
    super("ERR_PROXY_CONFIG_REJECTED", `${resource}: ${field}: ${reason}`);
  }
}

// ---- the embedded proxy ---------------------------------------------------------------------

/** A Listener (or a secret it names) the proxy cannot honour; the xDS client NACKs it. */
export class ListenerInvalidError extends MeshgateError {
  constructor(readonly listener: string, readonly field: string, reason: string) {
    super("ERR_PROXY_LISTENER_INVALID", `listener ${listener}: ${field}: ${reason}`);
  }
}

/** A Listener's address cannot be bound (in use, not available on this host, no permission). */
export class ListenerBindError extends MeshgateError {
  constructor(readonly listener: string, readonly address: string, reason: string, cause?: unknown) {
    super("ERR_PROXY_LISTENER_BIND", `listener ${listener} cannot listen on ${address}: ${reason}`, { cause });
  }
}
