// Local replies as Envoy sends them: plain text for HTTP, and for gRPC requests a
// trailers-only gRPC response whose status is mapped from the HTTP status (so a gRPC client
// sees PERMISSION_DENIED, UNAUTHENTICATED, ... instead of a protocol error).

import type { FilterContext, FilterResult, HeaderMap } from "../contracts.js";

/** Envoy's HTTP -> gRPC status mapping for local replies. */
function grpcStatus(http: number): number {
  switch (http) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

export function isGrpc(ctx: FilterContext): boolean {
  const ct = ctx.headers["content-type"];
  return typeof ct === "string" && ct.startsWith("application/grpc");
}

/**
 * The reply to send. `grpcCode` overrides the mapped gRPC status (rate limits answered as
 * RESOURCE_EXHAUSTED).
 */
export function localReply(ctx: FilterContext, status: number, body: string, headers?: HeaderMap, grpcCode?: number): FilterResult {
  if (!isGrpc(ctx)) return headers ? { action: "respond", status, body, headers } : { action: "respond", status, body };
  return {
    action: "respond",
    status: 200,
    body: "",
    headers: { ...headers, "content-type": "application/grpc", "grpc-status": String(grpcCode ?? grpcStatus(status)), "grpc-message": encodeURIComponent(body) },
  };
}

export const CONTINUE: FilterResult = Object.freeze({ action: "continue" });

/**
 * The original client's address: what the connection manager determined, else Envoy's
 * default (use_remote_address false, no trusted hops): the last x-forwarded-for entry,
 * else the peer.
 */
export function clientAddress(ctx: FilterContext): string {
  if (ctx.clientAddress !== undefined) return ctx.clientAddress;
  const xff = ctx.headers["x-forwarded-for"];
  const v = typeof xff === "string" ? xff : Array.isArray(xff) ? xff[xff.length - 1] : undefined;
  if (v) {
    const comma = v.lastIndexOf(",");
    const last = (comma >= 0 ? v.slice(comma + 1) : v).trim();
    if (last) return last;
  }
  return ctx.request.remoteAddress;
}
