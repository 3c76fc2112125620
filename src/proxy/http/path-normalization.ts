// Request path normalisation, done once before route matching and authorization so that
// every spelling of a path (`/admin/../public`, `/%2e%2e/admin`, `//admin`,
// `/public/..%2Fadmin`) is seen by policies as the one path the upstream will receive.
// The connection manager must forward the normalised path, never the raw one: routing on
// one path and forwarding another is what path-confusion attacks exploit.
//
// What it does (RFC 3986 §6.2.2 plus the HttpConnectionManager's options):
// - absolute-form targets (`http://host/p`) become origin-form (`/p`);
// - percent-encoded unreserved characters are decoded (`%7E` -> `~`, `%2e` -> `.`), what
//   stays encoded gets uppercase hex, raw bytes outside US-ASCII printable are encoded;
// - `%2F` / `%5C` follow `pathWithEscapedSlashesAction`;
// - a raw backslash is a slash (as browsers and many servers treat it);
// - slashes are merged when `mergeSlashes` is set, then dot segments removed
//   (remove_dot_segments, §5.2.4).
// The query is left exactly as received.

export type EscapedSlashesAction = "KEEP_UNCHANGED" | "REJECT_REQUEST" | "UNESCAPE_AND_REDIRECT" | "UNESCAPE_AND_FORWARD";

export interface PathNormalizationOptions {
  readonly mergeSlashes: boolean;
  readonly escapedSlashes: EscapedSlashesAction;
  /** When given, the asterisk-form target `*` is accepted only for OPTIONS. */
  readonly method?: string;
}

export type NormalizedPath =
  | { readonly kind: "ok"; readonly path: string; /** After "?", without it; "" when none. */ readonly query: string }
  | { readonly kind: "redirect"; readonly location: string }
  | { readonly kind: "reject"; readonly status: 400; readonly reason: string };

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const BACKSLASH = 0x5c;

/**
 * Characters allowed raw in a path: RFC 3986 pchar (unreserved, sub-delims, ":", "@") and
 * "/". "%" and "\" are handled separately. Anything else forces the slow path (where it
 * is percent-encoded), so the fast path only ever returns canonical paths.
 */
const PCHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") PCHAR[c.charCodeAt(0)] = 1;

/** Unreserved characters (RFC 3986 §2.3): decoded when found percent-encoded. */
const UNRESERVED = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") UNRESERVED[c.charCodeAt(0)] = 1;

const HEX = "0123456789ABCDEF";

/**
 * True when `normalizePath` would return the path unchanged (the common case). It
 * allocates nothing, so the connection manager can call it first and skip the rest.
 */
export function isNormalPath(rawPath: string, options: PathNormalizationOptions): boolean {
  const n = rawPath.length;
  if (n === 0 || rawPath.charCodeAt(0) !== SLASH) return false;
  for (let i = 0; i < n; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === QUESTION) return true;
    if (c >= 128 || PCHAR[c] === 0) return false; // %, \, #, controls, non-ASCII, ...
    if (c === SLASH) {
      if (options.mergeSlashes && i + 1 < n && rawPath.charCodeAt(i + 1) === SLASH) return false;
    } else if (c === DOT && rawPath.charCodeAt(i - 1) === SLASH && isDotSegmentAt(rawPath, i, n)) {
      return false;
    }
  }
  return true;
}

/** `.` or `..` at `i` forming a whole segment (followed by "/", "?" or the end). */
function isDotSegmentAt(s: string, i: number, n: number): boolean {
  let j = i + 1;
  if (j < n && s.charCodeAt(j) === DOT) j++;
  if (j === n) return true;
  const c = s.charCodeAt(j);
  return c === SLASH || c === QUESTION;
}

export function normalizePath(rawPath: string, options: PathNormalizationOptions): NormalizedPath {
  if (isNormalPath(rawPath, options)) {
    const q = rawPath.indexOf("?");
    return q < 0 ? { kind: "ok", path: rawPath, query: "" } : { kind: "ok", path: rawPath.slice(0, q), query: rawPath.slice(q + 1) };
  }
  return normalizeSlow(rawPath, options);
}

function reject(reason: string): NormalizedPath {
  return { kind: "reject", status: 400, reason };
}

function normalizeSlow(rawPath: string, options: PathNormalizationOptions): NormalizedPath {
  if (rawPath === "*") {
    if (options.method !== undefined && options.method !== "OPTIONS") return reject("asterisk-form target is only valid for OPTIONS");
    return { kind: "ok", path: "*", query: "" };
  }
  let target = rawPath;
  if (target.charCodeAt(0) !== SLASH) {
    const origin = absoluteToOriginForm(target);
    if (origin === undefined) return reject("request target must start with '/'");
    target = origin;
  }
  const hash = target.indexOf("#");
  if (hash >= 0) return reject("request target contains a fragment");
  const q = target.indexOf("?");
  const rawPathPart = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? "" : target.slice(q + 1);

  // Pass 1: percent-decoding and character canonicalisation, segment by segment.
  let out = "";
  let sawEscapedSlash = false;
  const n = rawPathPart.length;
  for (let i = 0; i < n; i++) {
    const c = rawPathPart.charCodeAt(i);
    if (c === PERCENT) {
      if (i + 2 >= n) return reject("invalid percent-encoding in path");
      const hi = hexValue(rawPathPart.charCodeAt(i + 1));
      const lo = hexValue(rawPathPart.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return reject("invalid percent-encoding in path");
      const byte = hi * 16 + lo;
      i += 2;
      if (byte === SLASH || byte === BACKSLASH) {
        switch (options.escapedSlashes) {
          case "REJECT_REQUEST":
            return reject("path contains an escaped slash or backslash");
          case "KEEP_UNCHANGED":
            out += byte === SLASH ? "%2F" : "%5C";
            continue;
          default:
            sawEscapedSlash = true;
            out += "/";
            continue;
        }
      }
      if (byte < 128 && UNRESERVED[byte] === 1) out += String.fromCharCode(byte);
      else out += "%" + HEX[hi]! + HEX[lo]!;
      continue;
    }
    if (c === BACKSLASH) {
      out += "/";
      continue;
    }
    if (c < 128 && PCHAR[c] === 1) {
      out += rawPathPart[i];
      continue;
    }
    if (c < 0x21 || c === 0x7f) return reject("path contains a control character or space");
    // Other ASCII (", <, >, ^, `, {, |, }) and raw bytes >= 0x80 (Node hands the request
    // target over as latin1, one char per byte): canonical percent-encoded form.
    if (c <= 0xff) out += "%" + HEX[c >> 4]! + HEX[c & 15]!;
    else for (const b of Buffer.from(String.fromCharCode(c), "utf8")) out += "%" + HEX[b >> 4]! + HEX[b & 15]!;
  }

  // Pass 2: merge slashes, then remove dot segments.
  if (options.mergeSlashes) out = out.replace(/\/{2,}/g, "/");
  const path = removeDotSegments(out);

  if (sawEscapedSlash && options.escapedSlashes === "UNESCAPE_AND_REDIRECT") {
    return { kind: "redirect", location: q < 0 ? path : `${path}?${query}` };
  }
  return { kind: "ok", path, query };
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** `http://host[:port]/p?q` -> `/p?q`; `http://host?q` -> `/?q`. undefined when not absolute-form. */
function absoluteToOriginForm(target: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (!m) return undefined;
  const rest = target.slice(m[0].length);
  if (rest === "") return "/";
  return rest.charCodeAt(0) === SLASH ? rest : `/${rest}`;
}

/**
 * RFC 3986 §5.2.4 on a path that starts with "/", segment-wise: "." is dropped, ".."
 * drops the previous segment (never above the root). A trailing "." or ".." leaves a
 * trailing slash, as the RFC's algorithm does.
 */
export function removeDotSegments(path: string): string {
  const segments = path.split("/");
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i]!;
    if (s === ".") {
      if (i === last) out.push("");
    } else if (s === "..") {
      out.pop();
      if (i === last) out.push("");
    } else {
      out.push(s);
    }
  }
  return "/" + out.join("/");
}
