// What the client is told when an upstream exchange fails before response headers:
// Envoy's status, body text and response flag for each failure kind, so clients and
// dashboards that know Envoy read meshgate the same way.

import type { HeaderMap, UpstreamFailureKind } from "../contracts.js";

export interface FailureResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: HeaderMap;
  /** Envoy's response flag for access logs: UF, UC, UT, UO, UH, DC. */
  readonly flags: string;
}

const RESET_PREFIX = "upstream connect error or disconnect/reset before headers. reset reason: ";
const PLAIN: HeaderMap = Object.freeze({ "content-type": "text/plain" });

const RESPONSES: Readonly<Record<UpstreamFailureKind, FailureResponse>> = {
  "connect-failure": { status: 503, body: `${RESET_PREFIX}connection failure`, headers: PLAIN, flags: "UF" },
  reset: { status: 503, body: `${RESET_PREFIX}connection termination`, headers: PLAIN, flags: "UC" },
  timeout: { status: 504, body: "upstream request timeout", headers: PLAIN, flags: "UT" },
  overflow: { status: 503, body: `${RESET_PREFIX}overflow`, headers: Object.freeze({ "content-type": "text/plain", "x-envoy-overloaded": "true" }), flags: "UO" },
  "no-healthy-upstream": { status: 503, body: "no healthy upstream", headers: PLAIN, flags: "UH" },
  // Nobody is left to read it; the status is what access logs record for a client that left.
  cancelled: { status: 499, body: "", headers: PLAIN, flags: "DC" },
};

/** The downstream response for a failure kind. The returned objects are shared: copy `headers` before changing them. */
export function failureResponse(kind: UpstreamFailureKind): FailureResponse {
  return RESPONSES[kind];
}
