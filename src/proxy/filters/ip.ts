// IP addresses and CIDR ranges, parsed once: ranges at config time, a request's address
// through a one-entry cache (the requests of one connection share their peer address).

import { isIPv4 } from "node:net";
import { num, object, str, wrapped, type ConfigPath } from "../config-reader.js";

/** IPv4 as one 32-bit number; IPv6 as four 32-bit words. IPv4-mapped IPv6 is IPv4. */
export type Ip = { readonly v6: false; readonly n: number } | { readonly v6: true; readonly w: Uint32Array };

let lastText: string | undefined;
let lastIp: Ip | undefined;

export function parseIp(text: string): Ip | undefined {
  if (text === lastText) return lastIp;
  const ip = parse(text);
  lastText = text;
  lastIp = ip;
  return ip;
}

function parse(text: string): Ip | undefined {
  if (isIPv4(text)) return { v6: false, n: v4(text) };
  const groups = v6Groups(text);
  if (!groups) return undefined;
  // ::ffff:a.b.c.d (how dual-stack sockets report IPv4 peers) compares as IPv4.
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return { v6: false, n: ((groups[6]! << 16) | groups[7]!) >>> 0 };
  }
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return { v6: true, w };
}

function v4(text: string): number {
  let n = 0;
  for (const o of text.split(".")) n = n * 256 + Number(o);
  return n >>> 0;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function v6Groups(text: string): number[] | undefined {
  let a = text;
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  if (!a.includes(":")) return undefined;
  // A dotted IPv4 tail (::ffff:1.2.3.4) becomes its two 16-bit groups.
  const lastColon = a.lastIndexOf(":");
  const tail = a.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!isIPv4(tail)) return undefined;
    const n = v4(tail);
    a = `${a.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const parts = a.split("::");
  if (parts.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(parts[0]!);
  if (!head) return undefined;
  if (parts.length === 1) return head.length === 8 ? head : undefined;
  const rest = parseGroups(parts[1]!);
  if (!rest) return undefined;
  const explicit = head.length + rest.length;
  if (explicit > 7) return undefined;
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...rest];
}

/** An envoy.config.core.v3.CidrRange, compiled. */
export function compileCidr(value: unknown, where: ConfigPath): (ip: Ip | undefined) => boolean {
  const o = object(value, where, ["addressPrefix", "prefixLen"]);
  const prefix = str(o.addressPrefix, where.at("addressPrefix"));
  const base = parse(prefix);
  if (!base) return where.at("addressPrefix").fail(`${JSON.stringify(prefix)} is not an IP address`);
  const width = base.v6 ? 128 : 32;
  const len = wrapped(o.prefixLen, where.at("prefixLen"), (v, w) => num(v, w, 0), 0);
  if (!Number.isInteger(len) || len < 0 || len > width) where.at("prefixLen").fail(`${len} is not a prefix length for ${prefix}`);
  if (!base.v6) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const net = (base.n & mask) >>> 0;
    return (ip) => ip !== undefined && !ip.v6 && (ip.n & mask) >>> 0 === net;
  }
  const masks = new Uint32Array(4);
  const nets = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    masks[i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    nets[i] = (base.w[i]! & masks[i]!) >>> 0;
  }
  return (ip) => {
    if (ip === undefined || !ip.v6) return false;
    for (let i = 0; i < 4; i++) if ((ip.w[i]! & masks[i]!) >>> 0 !== nets[i]) return false;
    return true;
  };
}

/** The network an address is in, as Envoy's masked_remote_address prints it (`10.0.0.0/8`, RFC 5952 IPv6). */
export function maskedAddress(ip: Ip, v4Len: number, v6Len: number): string {
  if (!ip.v6) {
    const mask = v4Len === 0 ? 0 : (0xffffffff << (32 - v4Len)) >>> 0;
    const n = (ip.n & mask) >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${v4Len}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, v6Len - 32 * i));
    const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const w = (ip.w[i]! & m) >>> 0;
    groups.push(w >>> 16, w & 0xffff);
  }
  return `${formatV6(groups)}/${v6Len}`;
}

/** RFC 5952: lowercase, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
export function formatV6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
