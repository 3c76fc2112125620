// Response header fields as the pools report them ([name, value, ...] pairs, or an object
// from undici's HTTP/2 client for trailers) turned into the HeaderMap sinks receive:
// lowercase names, a repeated field as an array of its values in order.

import type { HeaderMap } from "../contracts.js";
import { lowerHeaderName } from "../http/header-names.js";
import type { RawHeaders } from "./dispatcher.js";

export function headersFromRaw(raw: RawHeaders): HeaderMap {
  const out: HeaderMap = {};
  const n = raw.length - 1;
  for (let i = 0; i < n; i += 2) {
    const k = raw[i]!;
    const v = raw[i + 1]!;
    // HTTP/1.1 fields come from Node's parser as latin1 strings, so bytes pass through
    // unchanged; HTTP/2 Buffers are UTF-8 (as undici encodes them).
    add(out, lowerHeaderName(typeof k === "string" ? k : k.toString("latin1")), typeof v === "string" ? v : v.toString("utf8"));
  }
  return out;
}

/** Trailers in either form a pool reports them; undefined when there are none. */
export function trailersFromRaw(raw: RawHeaders | Record<string, string | string[] | undefined> | null): HeaderMap | undefined {
  if (raw === null) return undefined;
  if (Array.isArray(raw)) return raw.length > 0 ? headersFromRaw(raw) : undefined;
  let out: HeaderMap | undefined;
  const obj = raw as Record<string, string | string[] | undefined>;
  for (const k in obj) {
    const v = obj[k];
    if (v === undefined) continue;
    out ??= {};
    const name = k.toLowerCase();
    if (typeof v === "string") add(out, name, v);
    else for (const x of v) add(out, name, x);
  }
  return out;
}

function add(out: HeaderMap, name: string, value: string): void {
  // Neither a string nor an array: absent, or a name like `constructor` that reads through
  // to Object.prototype, which an own property then shadows (a plain field). `__proto__`
  // cannot be a field of a plain object and is dropped.
  const prev = out[name];
  if (typeof prev === "string") out[name] = [prev, value];
  else if (Array.isArray(prev)) prev.push(value);
  else if (name !== "__proto__") out[name] = value;
}
