// The headers a proxy adds to say where a request came from: `x-forwarded-for` (the
// client address appended to whatever earlier proxies wrote), `x-forwarded-proto` (the
// scheme the client used to reach us, overwriting any client-supplied value so upstreams
// can trust it), and `x-request-id` (kept when the client sent a sane one, else made).

import { randomBytes } from "node:crypto";
import type { HeaderMap } from "../contracts.js";

/** Appends `remoteAddress` to `x-forwarded-for` (IPv4-mapped IPv6 shown as plain IPv4). */
export function appendForwardedFor(headers: HeaderMap, remoteAddress: string): void {
  const address = remoteAddress.startsWith("::ffff:") && remoteAddress.includes(".") ? remoteAddress.slice(7) : remoteAddress;
  const existing = headers["x-forwarded-for"];
  if (existing === undefined || existing === "") headers["x-forwarded-for"] = address;
  else if (typeof existing === "string") headers["x-forwarded-for"] = `${existing}, ${address}`;
  else headers["x-forwarded-for"] = `${existing.join(", ")}, ${address}`;
}

export function setForwardedProto(headers: HeaderMap, scheme: "http" | "https"): void {
  headers["x-forwarded-proto"] = scheme;
}

/** A client-supplied id is kept only if it is short and made of safe characters. */
const MAX_REQUEST_ID_LENGTH = 128;

/** Returns the request's id, generating (and setting) one when absent or unusable. */
export function ensureRequestId(headers: HeaderMap): string {
  const existing = headers["x-request-id"];
  if (typeof existing === "string" && isUsableRequestId(existing)) return existing;
  const id = newRequestId();
  headers["x-request-id"] = id;
  return id;
}

function isUsableRequestId(id: string): boolean {
  const n = id.length;
  if (n === 0 || n > MAX_REQUEST_ID_LENGTH) return false;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    // Visible ASCII only: no spaces, controls or commas (which would split it into a list).
    if (c <= 0x20 || c >= 0x7f || c === 0x2c) return false;
  }
  return true;
}

// Request ids: a random per-process prefix (so workers and restarts never collide) and a
// counter, shaped like a version-4 UUID so log tooling that expects one accepts it. No
// randomness or crypto on the request path.
let prefix = makePrefix();
let counter = 0;
const COUNTER_LIMIT = Number.MAX_SAFE_INTEGER; // < 16^15: fits the 15 hex digits below

function makePrefix(): string {
  const r = randomBytes(8).toString("hex"); // 16 hex digits
  const variant = ((parseInt(r[12]!, 16) & 0x3) | 0x8).toString(16);
  return `${r.slice(0, 8)}-${r.slice(8, 12)}-4${r.slice(13, 16)}-${variant}`;
}

export function newRequestId(): string {
  if (++counter === COUNTER_LIMIT) {
    prefix = makePrefix();
    counter = 1;
  }
  // The counter fills the last 3 digits of the 4th group and the 12 of the 5th.
  const hex = counter.toString(16).padStart(15, "0");
  return `${prefix}${hex.slice(0, 3)}-${hex.slice(3)}`;
}
