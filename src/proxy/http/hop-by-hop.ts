// Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection, so a proxy
// removes them before forwarding, in both directions:
// - `Connection` and every field it names;
// - the fields known to be connection-specific whether named or not: `Proxy-Connection`,
//   `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`.
// `TE: trailers` is the exception on requests: it says the client accepts trailers (gRPC
// depends on it) and HTTP/2 allows exactly that value, so it is kept, reduced to `trailers`.
// `Proxy-Authenticate` / `Proxy-Authorization` are not hop-by-hop in RFC 9110 (§11.7: a
// proxy that does not itself demand credentials relays them), so they are left alone.
//
// Fields are removed by setting them to `undefined` (HeaderMap allows it): deleting
// properties would turn V8's fast header objects into slow dictionaries on the hot path.

import type { HeaderMap } from "../contracts.js";

/** Always connection-specific (besides what `Connection` names). */
export const HOP_BY_HOP_HEADERS: readonly string[] = ["connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade"];

/** Removes hop-by-hop fields from request headers, keeping `te: trailers`. */
export function removeRequestHopByHop(headers: HeaderMap): void {
  const te = headers.te;
  const keepTrailers = te !== undefined && teAcceptsTrailers(te);
  removeHopByHop(headers);
  if (keepTrailers) headers.te = "trailers";
}

/** Removes hop-by-hop fields from response headers (or trailers). */
export function removeResponseHopByHop(headers: HeaderMap): void {
  removeHopByHop(headers);
}

function removeHopByHop(headers: HeaderMap): void {
  const connection = headers.connection;
  if (connection !== undefined) {
    if (typeof connection === "string") removeNamed(headers, connection);
    else for (const c of connection) removeNamed(headers, c);
    headers.connection = undefined;
  }
  // Assign only when present: adding an `undefined` property changes the object's shape.
  if (headers["proxy-connection"] !== undefined) headers["proxy-connection"] = undefined;
  if (headers["keep-alive"] !== undefined) headers["keep-alive"] = undefined;
  if (headers.te !== undefined) headers.te = undefined;
  if (headers["transfer-encoding"] !== undefined) headers["transfer-encoding"] = undefined;
  if (headers.upgrade !== undefined) headers.upgrade = undefined;
}

/** `Connection: keep-alive, X-Foo` -> removes `x-foo` (and `keep-alive`, removed anyway). */
function removeNamed(headers: HeaderMap, value: string): void {
  let start = 0;
  const n = value.length;
  while (start <= n) {
    let end = value.indexOf(",", start);
    if (end < 0) end = n;
    const name = value.slice(start, end).trim().toLowerCase();
    if (name !== "" && headers[name] !== undefined) headers[name] = undefined;
    start = end + 1;
  }
}

/** True when a TE field value lists the `trailers` token (`TE: trailers, deflate;q=0.5`). */
export function teAcceptsTrailers(te: string | string[]): boolean {
  if (typeof te !== "string") return te.some(teAcceptsTrailers);
  if (te === "trailers") return true;
  for (const part of te.split(",")) {
    const semi = part.indexOf(";");
    if ((semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase() === "trailers") return true;
  }
  return false;
}
