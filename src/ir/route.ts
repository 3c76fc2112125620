// Route tables: virtual hosts and routes, already in the order they must be tried
// (Gateway API precedence is applied by the translator, never by a proxy).

import type { IrLocalRateLimit, IrGlobalRateLimit } from "./traffic-policy.js";

export interface IrStringMatch {
  readonly kind: "Exact" | "RegularExpression";
  readonly value: string;
}

export interface IrPathMatch {
  /** PathPrefix is segment-aware: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`. */
  readonly kind: "Exact" | "PathPrefix" | "RegularExpression";
  readonly value: string;
}

export interface IrRouteMatch {
  readonly path: IrPathMatch;
  /** All must match. Header names are lower-case. */
  readonly headers: readonly ({ readonly name: string } & IrStringMatch)[];
  readonly queryParams: readonly ({ readonly name: string } & IrStringMatch)[];
  readonly method?: string;
}

export interface IrHeaderModifier {
  /** Replace (or add) these headers. */
  readonly set: readonly { name: string; value: string }[];
  /** Append a value (keeps existing values). */
  readonly add: readonly { name: string; value: string }[];
  /** Lower-case header names. */
  readonly remove: readonly string[];
}

export type IrPathRewrite =
  | { readonly kind: "ReplaceFullPath"; readonly value: string }
  /** Replaces the matched prefix (the route's PathPrefix value) with `value`. */
  | { readonly kind: "ReplacePrefixMatch"; readonly prefix: string; readonly value: string };

export interface IrWeightedBackend {
  /** Cluster name; absent for an invalid backendRef, whose share of requests gets 500. */
  readonly cluster?: string;
  readonly weight: number;
  readonly requestHeaders?: IrHeaderModifier;
  readonly responseHeaders?: IrHeaderModifier;
}

export interface IrRetry {
  readonly attempts: number;
  /** Envoy retry_on conditions, e.g. "connect-failure", "reset", "5xx", "retriable-status-codes". */
  readonly on: readonly string[];
  readonly statusCodes?: readonly number[];
  readonly perTryTimeoutMs?: number;
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
}

export interface IrMirror {
  readonly cluster: string;
  /** Percentage of requests mirrored (default 100). */
  readonly percent?: number;
}

export type IrRouteAction =
  | {
      readonly kind: "forward";
      /** Weights as written; all-zero or all-invalid are turned into `direct` 500 by the translator. */
      readonly backends: readonly IrWeightedBackend[];
      readonly pathRewrite?: IrPathRewrite;
      readonly hostRewrite?: string;
      readonly mirrors?: readonly IrMirror[];
      /** Gateway API timeouts.request: the whole request, retries included. */
      readonly timeoutMs?: number;
      /** Gateway API timeouts.backendRequest: each try. */
      readonly perTryTimeoutMs?: number;
      readonly retry?: IrRetry;
      /** gRPC upstream (GRPCRoute): the cluster speaks HTTP/2. */
      readonly grpc?: boolean;
    }
  | {
      readonly kind: "redirect";
      readonly scheme?: "http" | "https";
      readonly hostname?: string;
      readonly port?: number;
      readonly path?: IrPathRewrite;
      /** 301 or 302 (also 303, 307, 308). */
      readonly statusCode: number;
    }
  | { readonly kind: "direct"; readonly status: number; readonly body?: string };

export interface IrRoute {
  /** Unique in its virtual host, e.g. `httproute/bookinfo/reviews/rule/0/match/0`. */
  readonly name: string;
  readonly match: IrRouteMatch;
  readonly action: IrRouteAction;
  readonly requestHeaders?: IrHeaderModifier;
  readonly responseHeaders?: IrHeaderModifier;
  /** Per-route rate limits (BackendTrafficPolicy on the route or its Gateway). */
  readonly localRateLimit?: IrLocalRateLimit;
  readonly globalRateLimit?: IrGlobalRateLimit;
  /** Where it came from: kind/namespace/name, rule index. */
  readonly source: { readonly kind: string; readonly namespace: string; readonly name: string; readonly rule: number };
}

export interface IrVirtualHost {
  readonly name: string;
  /** Host header values it serves, with and without port; `*` for any. Wildcards `*.example.com`. */
  readonly domains: readonly string[];
  /** In match order: the first matching route wins. */
  readonly routes: readonly IrRoute[];
}

export interface IrRouteTable {
  readonly name: string;
  readonly virtualHosts: readonly IrVirtualHost[];
}
