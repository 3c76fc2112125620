// What the router hands the connection manager for one request: forward it to a cluster
// (with rewrites, header mutations, mirrors, retries and timeouts), redirect it, or
// answer it directly. Everything here is computed once per configuration; a request only
// reads it (redirect locations, which depend on the request, are the one exception).

import type { EnvoyResource, HeaderMap, RetryPolicy } from "../contracts.js";

/** The request facts routing looks at. */
export interface RouteInput {
  /** Host header or :authority, as received (port included when the client sent one). */
  readonly authority: string;
  /** Normalised path, query included. */
  readonly path: string;
  readonly method: string;
  /** Lowercase names; pseudo-headers come from the fields above. */
  readonly headers: HeaderMap;
  readonly scheme: "http" | "https";
}

// ---- header mutations -----------------------------------------------------------------

/** A value as configured: a constant, or literal text and variables (`%DOWNSTREAM_REMOTE_ADDRESS%`). */
export type HeaderValueTemplate = string | readonly HeaderValuePart[];

export type HeaderValuePart =
  | string
  | {
      readonly variable:
        | "DOWNSTREAM_REMOTE_ADDRESS"
        | "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT"
        | "DOWNSTREAM_REMOTE_PORT"
        | "DOWNSTREAM_LOCAL_ADDRESS"
        | "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT"
        | "DOWNSTREAM_LOCAL_PORT"
        | "PROTOCOL"
        | "REQ";
      /** REQ(name): the request header's name. */
      readonly header?: string;
    };

/**
 * One step of a mutation list, in the order Envoy applies them (per level: removals,
 * then additions). `append` adds another value; `set` replaces or adds; `add-if-absent`
 * adds only when missing; `overwrite-if-exists` replaces only when present.
 */
export type HeaderOp =
  | { readonly op: "remove"; readonly name: string }
  | {
      readonly op: "append" | "set" | "add-if-absent" | "overwrite-if-exists";
      readonly name: string;
      readonly value: HeaderValueTemplate;
      /** Envoy skips a header whose value comes out empty unless told to keep it. */
      readonly keepEmptyValue: boolean;
    };

export interface HeaderMutations {
  readonly ops: readonly HeaderOp[];
}

/** Values for the variables a header template may use (missing ones format as ""). */
export interface HeaderVars {
  /** IP address of the client (no port). */
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** "HTTP/1.1" or "HTTP/2". */
  readonly protocol?: string;
  /** For `%REQ(name)%` (the downstream request's headers). */
  readonly requestHeaders?: HeaderMap;
}

// ---- rewrites -------------------------------------------------------------------------

/**
 * How the path (without its query, which is kept) is rewritten.
 * - `prefix`: the first `replace` characters become `value` (`replace` -1: the whole
 *   path), which is Envoy's prefix_rewrite for prefix, path-separated-prefix, path and
 *   regex matches.
 * - `regex`: every match of `pattern` (global) is replaced by `substitution` (in
 *   String.prototype.replace syntax).
 */
export type PathRewrite =
  | { readonly kind: "prefix"; readonly replace: number; readonly value: string }
  | { readonly kind: "regex"; readonly pattern: RegExp; readonly substitution: string };

/** `literal`: this Host header; `auto`: the upstream endpoint's hostname (the upstream module knows it). */
export type HostRewrite = { readonly kind: "literal"; readonly value: string } | { readonly kind: "auto" };

// ---- forward --------------------------------------------------------------------------

/** A cluster the route may send to, with everything that depends on which one was picked. */
export interface PickedCluster {
  readonly name: string;
  readonly weight: number;
  /** Complete request mutations for this cluster: its own, then the route's, virtual host's and table's. */
  readonly requestHeaders: HeaderMutations;
  readonly responseHeaders: HeaderMutations;
  /** Per-filter configs: table < virtual host < route < this cluster (most specific wins per filter). */
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
  /** The cluster's own host rewrite, else the route's. */
  readonly hostRewrite: HostRewrite | undefined;
}

/** Picks one of the route's clusters by weight (weight-0 entries are never picked). */
export interface ClusterPicker {
  readonly targets: readonly PickedCluster[];
  /** Sum of the weights. */
  readonly total: number;
  pick(): PickedCluster;
}

export interface RequestMirror {
  readonly cluster: string;
  /** Share of requests mirrored, 0..1 (1: every request). */
  readonly fraction: number;
  /** Envoy appends `-shadow` to the mirrored request's Host unless told not to. */
  readonly shadowHostSuffix: boolean;
}

export interface ForwardDecision {
  readonly kind: "forward";
  readonly routeName: string;
  readonly virtualHostName: string;
  /**
   * Pick once per request, right after routing and before the HTTP filters run: the
   * picked cluster's filterConfig is what the filters see, and its header mutations and
   * host rewrite are the ones to apply.
   */
  readonly clusters: ClusterPicker;
  /** Status to answer when the picked cluster does not exist (Envoy's cluster_not_found_response_code; 503 by default). */
  readonly clusterNotFoundStatus: number;
  /** Whole-request timeout, retries included; 0 = none (Envoy's default is 15 s). */
  readonly timeoutMs: number;
  readonly retry: RetryPolicy | undefined;
  readonly pathRewrite: PathRewrite | undefined;
  /** The route's host rewrite (a picked cluster may override it: use PickedCluster.hostRewrite). */
  readonly hostRewrite: HostRewrite | undefined;
  readonly mirrors: readonly RequestMirror[];
  /** The route's request mutations (route, virtual host, table levels; a picked cluster's include its own too). */
  readonly requestHeaders: HeaderMutations;
  readonly responseHeaders: HeaderMutations;
  /** Per-filter configs: table < virtual host < route. */
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
  /** RouteAction.rateLimits as received. */
  readonly rateLimits: readonly EnvoyResource[] | undefined;
  /** VirtualHost.rateLimits as received (filters apply them when the route has none, Envoy's default). */
  readonly virtualHostRateLimits: readonly EnvoyResource[] | undefined;
}

export interface RedirectDecision {
  readonly kind: "redirect";
  readonly routeName: string;
  readonly virtualHostName: string;
  /** 301, 302, 303, 307 or 308. */
  readonly status: number;
  /** Absolute URL for the Location header. */
  readonly location: string;
  readonly responseHeaders: HeaderMutations;
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
}

export interface DirectDecision {
  readonly kind: "direct";
  readonly routeName: string;
  readonly virtualHostName: string;
  readonly status: number;
  readonly body: string | undefined;
  /** Headers the response starts with (content-type when there is a body). */
  readonly headers: HeaderMap;
  readonly responseHeaders: HeaderMutations;
  readonly filterConfig: Readonly<Record<string, EnvoyResource>> | undefined;
}

export type RouteDecision = ForwardDecision | RedirectDecision | DirectDecision;
