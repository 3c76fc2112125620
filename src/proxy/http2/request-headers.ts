// A request's decoded header list (RFC 9113 §8.3) turned into what the proxy works with:
// the four request pseudo-header fields, and the regular fields as a HeaderMap. A list
// that is malformed (§8.2, §8.3) makes the stream fail with PROTOCOL_ERROR, as nghttp2
// treats it: uppercase or invalid names, values with NUL / CR / LF or surrounding
// whitespace, connection-specific fields, `te` other than "trailers", pseudo-header
// fields after regular ones, repeated, unknown or missing ones, a Content-Length that is
// not a number.

import type { HeaderMap } from "../contracts.js";

export interface RequestHead {
  method: string;
  scheme: string;
  authority: string | undefined;
  path: string | undefined;
  headers: HeaderMap;
  /** The Content-Length field, -1 without one. */
  contentLength: number;
  /** Regular fields (for maxHeadersCount). */
  fieldCount: number;
  /** `te: trailers` was sent. */
  teTrailers: boolean;
}

// Characters allowed in a field name: RFC 9110 tchar, lowercase only (§8.2.1).
const NAME_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

function validName(n: string): boolean {
  const len = n.length;
  if (len === 0) return false;
  for (let i = 0; i < len; i++) {
    const c = n.charCodeAt(i);
    if (c > 127 || NAME_CHAR[c] === 0) return false;
  }
  return true;
}

function validValue(v: string): boolean {
  const len = v.length;
  if (len === 0) return true;
  let c = v.charCodeAt(0);
  if (c === 0x20 || c === 0x09) return false;
  c = v.charCodeAt(len - 1);
  if (c === 0x20 || c === 0x09) return false;
  for (let i = 0; i < len; i++) {
    c = v.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

/** Fields HTTP/2 forbids in requests (RFC 9113 §8.2.2); `te` is checked on its own. */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/** The request head, or a string saying why the list is malformed. */
export function requestHead(fields: readonly string[]): RequestHead | string {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let path: string | undefined;
  let regular = false;
  let fieldCount = 0;
  let contentLength = -1;
  let teTrailers = false;
  const headers: HeaderMap = {};
  const n = fields.length;
  for (let i = 0; i < n; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header field ${name} after regular fields`;
      if (!validValue(value)) return `invalid value of ${name}`;
      switch (name) {
        case ":method":
          if (method !== undefined) return "repeated :method";
          method = value;
          break;
        case ":scheme":
          if (scheme !== undefined) return "repeated :scheme";
          scheme = value;
          break;
        case ":authority":
          if (authority !== undefined) return "repeated :authority";
          authority = value;
          break;
        case ":path":
          if (path !== undefined) return "repeated :path";
          path = value;
          break;
        default:
          return `pseudo-header field ${name} not allowed in a request`;
      }
      continue;
    }
    regular = true;
    fieldCount++;
    if (!validName(name)) return `invalid field name ${JSON.stringify(name)}`;
    if (!validValue(value)) return `invalid value of ${name}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === "te") {
      if (value !== "trailers") return "te other than trailers";
      teTrailers = true;
    } else if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value)) return "invalid content-length";
      const len = Number(value);
      if (contentLength !== -1 && contentLength !== len) return "conflicting content-length";
      contentLength = len;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (name === "cookie") headers[name] = `${prev as string}; ${value}`;
    else if (name === "set-cookie") headers[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
    else if (name !== "content-length") headers[name] = `${prev as string}, ${value}`;
  }
  if (method === undefined) return "missing :method";
  if (method !== "CONNECT") {
    if (scheme === undefined) return "missing :scheme";
    if (path === undefined || path === "") return "missing :path";
  }
  return { method, scheme: scheme ?? "", authority, path, headers, contentLength, fieldCount, teTrailers };
}

/** Request trailers: regular fields only. */
export function trailersValid(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (!validName(name) || !validValue(fields[i + 1]!) || CONNECTION_SPECIFIC.has(name)) return false;
  }
  return true;
}
