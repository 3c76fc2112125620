// The seams of meshgate's own data plane (docs/proxy.md). Each stage of a request is a
// module of its own: listeners turn sockets into exchanges, the HTTP connection manager
// normalises and routes them, filters decide, upstream clusters forward. These types are
// what they hand each other, so each can be built, tested and measured alone.
//
// The proxy knows only Envoy v3 resources as received over xDS (decoded with
// `decodeResource`: camelCase fields, enums as names, Durations as { seconds, nanos },
// typed configs as `{ "@type": url, ...fields }`) and never the model.

import type { Duplex, Readable } from "node:stream";

/** A decoded Envoy resource (see the module comment for its shape). */
export type EnvoyResource = Record<string, unknown>;

/** Header names are lowercase; HTTP/2 pseudo-headers are not included. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** What the TLS handshake told about the downstream connection. */
export interface DownstreamTls {
  /** SNI the client sent, if any. */
  readonly serverName?: string;
  /** The client certificate's URI SAN that is a SPIFFE ID (mTLS listeners only). */
  readonly peerSpiffeId?: string;
  /** The client certificate's subject alternative names, as Node prints them. */
  readonly peerSubjectAltName?: string;
  /** The client certificate's URI SANs, in order (present when a certificate was presented). */
  readonly peerUriSans?: readonly string[];
  /** Lowercase hex SHA-256 of the client certificate (DER), when one was presented. */
  readonly peerCertificateHash?: string;
  /** The URI SANs of the certificate this proxy presented on the connection. */
  readonly localUriSans?: readonly string[];
}

/** One request as the listener received it (HTTP/1.1 or HTTP/2), before routing. */
export interface DownstreamRequest {
  readonly protocol: "http/1.1" | "h2";
  readonly method: string;
  readonly scheme: "http" | "https";
  /** Host header or :authority. */
  readonly authority: string;
  /** Path and query exactly as received (normalisation happens in the connection manager). */
  readonly rawPath: string;
  readonly headers: HeaderMap;
  readonly body: Readable;
  /** false when the request is known to carry no body (no length, no chunking, or an HTTP/2 stream ended with its headers). */
  readonly hasBody?: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly tls?: DownstreamTls;
  /**
   * HTTP/1.1 Upgrade the listener can carry (a protocol the chain's upgradeConfigs
   * enable, lowercase), absent on other requests. Such a request has no body; the
   * response either switches protocols (`switchProtocols`) or is an ordinary answer
   * after which the connection closes.
   */
  readonly upgrade?: string;
}

/** Where the response goes. Mirrors the parts of ServerResponse / Http2Stream a proxy needs. */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  /** True once the client went away (the upstream request should be cancelled). */
  readonly closed: boolean;
  writeHead(status: number, headers: HeaderMap): void;
  /** Returns false when the client is slow: wait for onDrain before writing more. */
  write(chunk: Uint8Array): boolean;
  onDrain(cb: () => void): void;
  onClose(cb: () => void): void;
  end(chunk?: Uint8Array, trailers?: HeaderMap): void;
  /** Abort the response (connection reset / RST_STREAM) when it can no longer complete. */
  destroy(error?: Error): void;
  /**
   * Requests with `upgrade` only: sends 101 Switching Protocols with `headers` (the
   * listener adds Connection and Upgrade: `protocol`) and returns the client's
   * connection, which from then on carries the new protocol.
   */
  switchProtocols?(headers: HeaderMap, protocol: string): Duplex;
}

/** The filter chain a connection matched: its HttpConnectionManager config, as received. */
export interface FilterChainRef {
  readonly listenerName: string;
  readonly chainName: string;
  /** The chain's envoy.filters.network.http_connection_manager typed config. */
  readonly hcm: EnvoyResource;
}

/** Called by the listeners for every request; the connection manager implements it. */
export type RequestHandler = (req: DownstreamRequest, res: DownstreamResponse, chain: FilterChainRef) => void;

/** The request sent to an upstream cluster (already rewritten by the route). */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** Lowercase names, hop-by-hop headers removed; includes `host`. */
  readonly headers: HeaderMap;
  /** null: no body. A Buffer can be replayed for retries and mirrors; a stream cannot. */
  readonly body: Readable | Buffer | null;
  /** Ask the upstream to switch to this protocol (HTTP/1.1 Upgrade); a 101 goes to `sink.onUpgrade`. */
  readonly upgrade?: string;
}

/** Receives an upstream response. Mirrors undici's dispatch handler, simplified. */
export interface UpstreamResponseSink {
  /** Return false to pause the upstream until `resume` is called. */
  onHeaders(status: number, headers: HeaderMap, resume: () => void): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: HeaderMap): void;
  /** The exchange failed before or after headers; `kind` drives retries and outlier detection. */
  onError(error: UpstreamError): void;
  /**
   * The upstream switched protocols (101) on a request with `upgrade`: `socket` carries
   * the new protocol both ways and belongs to the sink; the exchange is over.
   */
  onUpgrade?(status: number, headers: HeaderMap, socket: Duplex): void;
}

export type UpstreamFailureKind =
  | "connect-failure" // TCP or TLS handshake failed (incl. certificate verification)
  | "reset" // connection closed before a complete response
  | "timeout" // per-try or route timeout
  | "overflow" // circuit breaker refused the request
  | "no-healthy-upstream" // every endpoint ejected / unhealthy / none
  | "cancelled"; // downstream went away

export interface UpstreamError extends Error {
  readonly kind: UpstreamFailureKind;
}

/** Retry policy as the route gives it (Envoy RetryPolicy, decoded and normalised). */
export interface RetryPolicy {
  /** Envoy retry_on conditions, e.g. "connect-failure", "reset", "5xx", "retriable-status-codes". */
  readonly retryOn: readonly string[];
  readonly numRetries: number;
  readonly perTryTimeoutMs?: number;
  readonly retriableStatusCodes: readonly number[];
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface ForwardOptions {
  /** Whole-request timeout (route timeout); 0 = none. */
  readonly timeoutMs: number;
  readonly retry?: RetryPolicy;
  /** Called with the downstream's cancellation so the upstream request is aborted. */
  readonly signal?: AbortSignal;
}

/** A forwarded request in flight. `cancel()` (the downstream went away) aborts it; it costs
 * nothing per request, unlike an AbortSignal, which is why the request path uses it. */
export interface UpstreamCall {
  cancel(): void;
}

/** An upstream cluster (endpoints, load balancing, pools, TLS, outlier detection, limits). */
export interface UpstreamCluster {
  readonly name: string;
  forward(req: UpstreamRequest, sink: UpstreamResponseSink, options: ForwardOptions): UpstreamCall;
  /** Fire-and-forget copy of a request (RequestMirror): response discarded, errors ignored. */
  mirror(req: UpstreamRequest): void;
  /** Healthy endpoints available right now. */
  readonly healthyEndpoints: number;
  close(): Promise<void>;
}

/** Per-request facts filters read and write (like Envoy's dynamic metadata). */
export interface FilterContext {
  readonly request: DownstreamRequest;
  /** Path after normalisation (what routing and authorization see). */
  readonly path: string;
  /** Headers as the filters may read and modify them. */
  readonly headers: HeaderMap;
  /** Dynamic metadata by filter name, e.g. "envoy.filters.http.jwt_authn" -> { jwt_payload }. */
  readonly metadata: Map<string, Record<string, unknown>>;
  /** The matched route's per-filter configs (typedPerFilterConfig), by filter name. */
  readonly routeFilterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
  /** The matched route's rate-limit actions (RouteAction.rateLimits), decoded. */
  readonly routeRateLimits: readonly EnvoyResource[] | undefined;
  /**
   * The original client's address as the connection manager determined it (from
   * x-forwarded-for per useRemoteAddress / xffNumTrustedHops). Absent: filters apply
   * Envoy's default (the last x-forwarded-for entry, else the peer address).
   */
  readonly clientAddress?: string;
  /**
   * Headers a filter adds to whatever response the request gets, upstream or local (e.g.
   * the x-ratelimit-* quota headers on allowed requests). Created by the first filter that
   * needs it; set before the filter chain finishes.
   */
  responseHeadersToAdd?: HeaderMap;
}

/** A filter's verdict: continue, or answer the request locally. */
export type FilterResult = { readonly action: "continue" } | { readonly action: "respond"; readonly status: number; readonly body: string; readonly headers?: HeaderMap };

/** One HTTP filter instance, compiled from its typed config. */
export interface HttpFilter {
  readonly name: string;
  /** May be sync (rbac, local rate limit) or async (JWT with remote JWKS, global rate limit). */
  decode(ctx: FilterContext): FilterResult | Promise<FilterResult>;
  close?(): void;
}
