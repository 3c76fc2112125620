// The failures an upstream exchange ends with, as the contract's UpstreamError kinds.
// `detail` is a finer reason retries and messages need (a refused HTTP/2 stream is a
// reset; a per-try timeout may be retried, a route timeout never).

import type { UpstreamError, UpstreamFailureKind } from "../contracts.js";

export type FailureDetail = "refused-stream" | "per-try-timeout" | "route-timeout" | "tls" | "retry-overflow" | "invalid-request" | undefined;

export class UpstreamFailure extends Error implements UpstreamError {
  override name = "UpstreamError";
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    readonly detail?: FailureDetail,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Marks errors our connector raised: the connection (TCP or TLS) could not be set up. */
export class ConnectFailure extends Error {
  // A pool fails the requests waiting for the connection with this error (as Envoy purges
  // its pending requests on a connect failure); the retry policy decides what happens next.
  readonly code = "MESHGATE_UPSTREAM_CONNECT";
  constructor(
    message: string,
    readonly tls: boolean,
  ) {
    super(message);
  }
}

/**
 * The connection under a request failed: closed or reset before the response completed,
 * or the upstream answered with something that is not an HTTP/1.1 response. A reset.
 */
export class UpstreamConnectionError extends Error {
  override name = "UpstreamConnectionError";
}

/**
 * A request the HTTP/1.1 client refuses to send (a header value with CR or LF, which
 * would let it split into a second request). Not the endpoint's fault: no outlier
 * detection, no retry.
 */
export function invalidRequest(message: string): UpstreamFailure {
  return new UpstreamFailure("reset", message, "invalid-request");
}

/** Node's HTTP/2 stream error text, or undici's for a stream reset with code 7 (REFUSED_STREAM). */
const REFUSED_STREAM = /REFUSED_STREAM|code 7$/;

/** Classifies an error a pool (ours for HTTP/1.1, undici's for HTTP/2) reported for a dispatched request. */
export function failureFromDispatchError(err: Error): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  if (err instanceof ConnectFailure) return new UpstreamFailure("connect-failure", err.message, err.tls ? "tls" : undefined, { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_CLOSED" || code === "UND_ERR_DESTROYED") {
    return new UpstreamFailure("connect-failure", `upstream connection failed: ${err.message}`, undefined, { cause: err });
  }
  if (REFUSED_STREAM.test(err.message)) {
    return new UpstreamFailure("reset", `upstream refused the stream: ${err.message}`, "refused-stream", { cause: err });
  }
  return new UpstreamFailure("reset", `upstream connection reset: ${err.message}`, undefined, { cause: err });
}
