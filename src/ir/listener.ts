// Listeners: where a proxy accepts connections (or, for proxyless gRPC clients, an API
// listener named after the target), and the HTTP processing behind them.

import type { IrSanMatch } from "./cluster.js";
import type { IrAuthorization, IrJwtAuthn } from "./security.js";
import type { IrGlobalRateLimit, IrLocalRateLimit } from "./traffic-policy.js";

export interface IrDownstreamTls {
  /** Secret names of the server certificates; chosen by SNI among the chain's serverNames. */
  readonly certificates: readonly string[];
  /** mTLS: secret name of the CA bundle client certificates must chain to. */
  readonly clientValidation?: { readonly secret: string; readonly subjectAltNames: readonly IrSanMatch[] };
  readonly requireClientCertificate: boolean;
  /** ALPN advertised, e.g. ["h2", "http/1.1"]. */
  readonly alpn: readonly string[];
  readonly minVersion: "1.2" | "1.3";
}

/** The HTTP filters, in the order they run (the router always runs last). */
export interface IrHttpFilters {
  readonly jwtAuthn?: IrJwtAuthn;
  readonly authorization?: IrAuthorization;
  /** Listener-wide rate limits; routes may carry their own. */
  readonly localRateLimit?: IrLocalRateLimit;
  /**
   * The ratelimit filter, calling the rate limit service through `serviceCluster`.
   * `domain` is the filter's default domain (routes with global limits name their own);
   * `rules` are listener-wide limits applied on every route of the table (may be empty:
   * the filter is then only there for the routes' own limits).
   */
  readonly globalRateLimit?: IrGlobalRateLimit & { readonly serviceCluster: string };
}

export interface IrHttpConnectionManager {
  readonly statPrefix: string;
  /** Route table name (served over RDS). */
  readonly routeTable: string;
  readonly filters: IrHttpFilters;
  /** Sidecar inbound: pass the verified peer identity on (x-forwarded-client-cert). */
  readonly forwardClientCert: boolean;
  /** Path normalisation before matching and authorization. */
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  /** What to do with %2F / %5C in paths. */
  readonly escapedSlashes: "KeepUnchanged" | "RejectRequest" | "UnescapeAndRedirect" | "UnescapeAndForward";
  readonly requestTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** HTTP/1.1 Upgrade protocols forwarded to the upstream (e.g. `websocket`); socket listeners only. */
  readonly upgradeTypes?: readonly string[];
}

export interface IrFilterChain {
  readonly name: string;
  /** SNI names this chain serves (TLS only); empty = any. */
  readonly serverNames: readonly string[];
  /** `tls` chains only accept TLS, `raw` only plaintext (PERMISSIVE has one of each). */
  readonly transport: "tls" | "raw";
  readonly tls?: IrDownstreamTls;
  readonly http: IrHttpConnectionManager;
}

export type IrListener =
  | {
      readonly kind: "socket";
      readonly name: string;
      readonly address: string;
      readonly port: number;
      /** What listens here: `gateway`, `sidecar-inbound`, `sidecar-outbound`. */
      readonly direction: "gateway" | "inbound" | "outbound";
      readonly filterChains: readonly IrFilterChain[];
    }
  | {
      /** Proxyless gRPC: the listener named `host:port` the client dials as `xds:///host:port`. */
      readonly kind: "api";
      readonly name: string;
      readonly http: IrHttpConnectionManager;
    };
