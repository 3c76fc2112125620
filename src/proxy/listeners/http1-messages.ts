// The pieces of HTTP/1.1 messages the downstream server reads and writes itself (it
// drives Node's native parser directly instead of going through node:http): the request
// header map with node:http's rules for repeated fields, the checks a proxy adds on top
// of the strict parser, status lines, the Date field, and the validation of what goes
// into a response head. Everything here runs per request: tables are built once, nothing
// compiles a regex, and the common cases allocate only the strings they return.

import { STATUS_CODES } from "node:http";
import type { HeaderMap } from "../contracts.js";
import { lowerHeaderName } from "../http/header-names.js";

/** Fields whose repetitions are dropped (the first one counts), as node:http does. */
const FIRST_WINS = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/** What the request head says beyond its fields, read while the header map is built. */
export interface RequestHeadFacts {
  /** 0, or the status to refuse the request with. */
  problem: number;
  hosts: number;
  /** Content-Length other than 0, or Transfer-Encoding (RFC 9112 §6.3). */
  hasBody: boolean;
  /** The Expect field (lowercase), "" when absent. */
  expect: string;
  /** The Upgrade field, trimmed and lowercase ("" when absent): upgradeConfigs name protocols so. */
  upgrade: string;
}

/**
 * Builds the header map from the parser's [name, value, ...] array (lowercase names; a
 * repeated field joined with ", ", `cookie` with "; ", `set-cookie` as an array, the
 * fields in FIRST_WINS keeping their first value) and checks what the strict parser lets
 * through but a proxy must refuse (RFC 9112): more fields than `maxHeadersCount` (431),
 * a transfer coding other than `chunked` (`gzip, chunked` passes the parser, and
 * forwarding it de-chunked would change the body's meaning), more than one Host field
 * or an invalid Host value (request smuggling and routing confusion).
 */
export function readRequestHeaders(raw: readonly string[], maxHeadersCount: number, facts: RequestHeadFacts): HeaderMap {
  const headers: HeaderMap = {};
  if (raw.length > maxHeadersCount * 2) {
    facts.problem = 431;
    return headers;
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerHeaderName(raw[i]!);
    const value = raw[i + 1]!;
    switch (name.length) {
      case 4:
        if (name === "host") {
          if (++facts.hosts > 1 || !isValidHost(value)) facts.problem = 400;
        }
        break;
      case 6:
        if (name === "expect") facts.expect = value.toLowerCase();
        break;
      case 7:
        if (name === "upgrade") facts.upgrade = value.trim().toLowerCase();
        break;
      case 14:
        if (name === "content-length" && value !== "0") facts.hasBody = true;
        break;
      case 17:
        if (name === "transfer-encoding") {
          facts.hasBody = true;
          if (!equalsLowerAscii(value.trim(), "chunked")) facts.problem = 400;
        }
        break;
    }
    const prev = headers[name];
    // Not a string or an array: absent, or a name like `constructor` that reads through
    // to Object.prototype; an own property shadows it. `__proto__` cannot be a field of a
    // plain object and is dropped.
    if (typeof prev === "string") {
      if (name === "set-cookie") headers[name] = [prev, value];
      else if (!FIRST_WINS.has(name)) headers[name] = prev + (name === "cookie" ? "; " : ", ") + value;
    } else if (Array.isArray(prev)) prev.push(value);
    else if (name !== "__proto__") headers[name] = value;
  }
  return headers;
}

function equalsLowerAscii(s: string, lower: string): boolean {
  if (s.length !== lower.length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** RFC 3986 host [":" port]: reg-name / IPv4 / IP-literal characters only. */
const HOST_CHARS = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:[]%") HOST_CHARS[c.charCodeAt(0)] = 1;

function isValidHost(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 128 || HOST_CHARS[c] === 0) return false;
  }
  return true;
}

// ---- response heads ------------------------------------------------------------------

const STATUS_LINES: string[] = [];
for (let s = 100; s <= 599; s++) STATUS_LINES[s] = `HTTP/1.1 ${s} ${STATUS_CODES[s] ?? "unknown"}\r\n`;

/** "HTTP/1.1 <status> <reason>\r\n"; throws for a status outside 100-999 (as node:http does). */
export function statusLine(status: number): string {
  const line = STATUS_LINES[status];
  if (line !== undefined) return line;
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid HTTP status code ${String(status)}`);
  return `HTTP/1.1 ${status} unknown\r\n`;
}

let dateSecond = -1;
let dateField = "";

/** "date: <IMF-fixdate>\r\n", formatted once per second. */
export function dateLine(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateField;
}

/** RFC 9110 tchar. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

/** A field value node:http would write: HTAB, SP, VCHAR, obs-text (no CR, LF, NUL or other controls). */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 ? c !== 0x09 : c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** Appends `name: value\r\n` lines for one field (validated: nothing written can split the head). */
export function fieldLines(name: string, value: string | readonly string[]): string {
  if (!isToken(name)) throw new TypeError(`invalid HTTP header name ${JSON.stringify(name)}`);
  if (typeof value === "string") {
    if (!isFieldValue(value)) throw new TypeError(`invalid value for HTTP header ${JSON.stringify(name)}`);
    return name + ": " + value + "\r\n";
  }
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const v = value[i]!;
    if (!isFieldValue(v)) throw new TypeError(`invalid value for HTTP header ${JSON.stringify(name)}`);
    out += name + ": " + v + "\r\n";
  }
  return out;
}

/** True when a comma-separated field value lists `token` (case-insensitive). */
export function listsToken(value: string | readonly string[], token: string): boolean {
  if (typeof value !== "string") {
    for (const v of value) if (listsToken(v, token)) return true;
    return false;
  }
  const lower = value.toLowerCase();
  let at = lower.indexOf(token);
  while (at >= 0) {
    const before = at === 0 ? 0x2c : lower.charCodeAt(at - 1);
    const after = at + token.length >= lower.length ? 0x2c : lower.charCodeAt(at + token.length);
    if ((before === 0x2c || before === 0x20 || before === 0x09) && (after === 0x2c || after === 0x20 || after === 0x09 || after === 0x3b)) return true;
    at = lower.indexOf(token, at + 1);
  }
  return false;
}

/** A local error answer that ends the connection (no body). */
export function errorResponse(status: number): string {
  return statusLine(status) + "connection: close\r\ncontent-length: 0\r\n" + dateLine() + "\r\n";
}
