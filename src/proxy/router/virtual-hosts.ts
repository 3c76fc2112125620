// Virtual host selection by Host / :authority, as Envoy does it: exact domain, then the
// longest suffix wildcard (`*.example.com`, `*-bar.example.com`), then the longest prefix
// wildcard (`foo.*`), then `*`. Wildcards never match the empty string. Domains may carry
// a port; the authority is tried as given, then without its port, before `*` applies.
// Case-insensitive. Lookups are map hits (one per distinct wildcard length).

export class DomainIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly suffixes = new Map<string, T>();
  private readonly prefixes = new Map<string, T>();
  private suffixLengths: number[] = [];
  private prefixLengths: number[] = [];
  private any: T | undefined;

  /** `ignorePort`: RouteConfiguration.ignorePortInHostMatching (only the port-less host is looked up). */
  constructor(private readonly ignorePort = false) {}

  /** Returns false when the domain is already taken (Envoy refuses duplicates). */
  add(domain: string, value: T): boolean {
    const d = domain.toLowerCase();
    if (d === "*") {
      if (this.any !== undefined) return false;
      this.any = value;
      return true;
    }
    const [map, key, lengths] = d.startsWith("*") ? [this.suffixes, d.slice(1), this.suffixLengths] : d.endsWith("*") ? [this.prefixes, d.slice(0, -1), this.prefixLengths] : [this.exact, d, undefined];
    if (map.has(key)) return false;
    map.set(key, value);
    if (lengths && !lengths.includes(key.length)) {
      lengths.push(key.length);
      lengths.sort((a, b) => b - a);
    }
    return true;
  }

  find(authority: string): T | undefined {
    const host = authority.toLowerCase();
    if (!this.ignorePort) {
      const v = this.lookup(host);
      if (v !== undefined) return v;
    }
    const stripped = stripPort(host);
    if (stripped !== host || this.ignorePort) {
      const v = this.lookup(stripped);
      if (v !== undefined) return v;
    }
    return this.any;
  }

  private lookup(host: string): T | undefined {
    const e = this.exact.get(host);
    if (e !== undefined) return e;
    for (const n of this.suffixLengths) {
      if (host.length <= n) continue;
      const v = this.suffixes.get(host.slice(host.length - n));
      if (v !== undefined) return v;
    }
    for (const n of this.prefixLengths) {
      if (host.length <= n) continue;
      const v = this.prefixes.get(host.slice(0, n));
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

/** `host:port` -> `host`, `[v6]:port` -> `[v6]`; anything else unchanged. */
export function stripPort(host: string): string {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return host;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    return close >= 0 && colon === close + 1 && isPort(host, colon + 1) ? host.slice(0, close + 1) : host;
  }
  // Two or more colons without brackets: an IPv6 address, no port.
  if (host.indexOf(":") !== colon) return host;
  return isPort(host, colon + 1) ? host.slice(0, colon) : host;
}

function isPort(s: string, from: number): boolean {
  if (from >= s.length) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
