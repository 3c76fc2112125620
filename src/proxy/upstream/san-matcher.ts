// Subject alternative name checks of an upstream certificate
// (CertificateValidationContext.matchTypedSubjectAltNames): the certificate is accepted
// when any one of its SANs of the matcher's type satisfies any one matcher. Compiled once
// per configuration; a handshake only runs the compiled tests.

import type { PeerCertificate } from "node:tls";
import { ConfigPath, enumValue, object, str } from "../config-reader.js";

export type SanType = "DNS" | "URI" | "IP_ADDRESS" | "EMAIL";

export interface SanMatcher {
  readonly type: SanType;
  /** For messages, e.g. `spiffe://x/ns/a/sa/b` or `prefix spiffe://x/`. */
  readonly description: string;
  test(value: string): boolean;
}

/** The SAN prefixes Node prints in `PeerCertificate.subjectaltname`. */
const NODE_SAN_PREFIX: Record<SanType, string> = { DNS: "DNS", URI: "URI", IP_ADDRESS: "IP Address", EMAIL: "email" };

export function compileSanMatcher(v: unknown, where: ConfigPath): SanMatcher {
  const o = object(v, where, ["sanType", "matcher", "oid"]);
  const type = enumValue<SanType>(o.sanType, where.at("sanType"), ["DNS", "URI", "IP_ADDRESS", "EMAIL"], "DNS");
  if (o.sanType === undefined) where.at("sanType").fail("a SAN type is required");
  const m = compileStringMatcher(o.matcher, where.at("matcher"));
  if (type === "DNS" && m.exact !== undefined) {
    // As Envoy does for DNS SANs given as an exact name: a wildcard SAN in the
    // certificate (`*.example.com`) covers one label of the expected name.
    const expected = m.exact;
    return { type, description: m.description, test: (san) => san === expected || wildcardCovers(san, expected) };
  }
  return { type, description: m.description, test: m.test };
}

function wildcardCovers(san: string, name: string): boolean {
  if (!san.startsWith("*.")) return false;
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot).toLowerCase() === san.slice(1).toLowerCase();
}

interface CompiledStringMatcher {
  readonly description: string;
  readonly exact?: string;
  test(value: string): boolean;
}

/** envoy.type.matcher.v3.StringMatcher. */
export function compileStringMatcher(v: unknown, where: ConfigPath): CompiledStringMatcher {
  const o = object(v, where, ["exact", "prefix", "suffix", "contains", "safeRegex", "ignoreCase"]);
  const ic = o.ignoreCase === true;
  const norm = ic ? (s: string) => s.toLowerCase() : (s: string) => s;
  if (o.exact !== undefined) {
    const want = norm(str(o.exact, where.at("exact")));
    return { description: want, exact: ic ? undefined : want, test: (s) => norm(s) === want };
  }
  if (o.prefix !== undefined) {
    const want = norm(str(o.prefix, where.at("prefix")));
    return { description: `prefix ${want}`, test: (s) => norm(s).startsWith(want) };
  }
  if (o.suffix !== undefined) {
    const want = norm(str(o.suffix, where.at("suffix")));
    return { description: `suffix ${want}`, test: (s) => norm(s).endsWith(want) };
  }
  if (o.contains !== undefined) {
    const want = norm(str(o.contains, where.at("contains")));
    return { description: `contains ${want}`, test: (s) => norm(s).includes(want) };
  }
  if (o.safeRegex !== undefined) {
    const r = object(o.safeRegex, where.at("safeRegex"), ["regex", "googleRe2"]);
    const source = str(r.regex, where.at("safeRegex").at("regex"));
    let re: RegExp;
    try {
      // Envoy matches the whole value.
      re = new RegExp(`^(?:${source})$`, ic ? "i" : "");
    } catch (e) {
      where.at("safeRegex").at("regex").fail(`invalid regular expression: ${(e as Error).message}`);
    }
    return { description: `regex ${source}`, test: (s) => re.test(s) };
  }
  where.fail("one of exact, prefix, suffix, contains or safeRegex is required");
}

/** The certificate's SANs as `[type, value]` pairs, parsed from Node's text form. */
export function certificateSans(cert: PeerCertificate): Array<[string, string]> {
  const text = cert.subjectaltname;
  if (!text) return [];
  const out: Array<[string, string]> = [];
  // Node prints `DNS:a, URI:b`; values with special characters are JSON-quoted.
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        value = text.slice(colon + 2, j);
      }
      next = text.indexOf(", ", j);
    } else {
      next = text.indexOf(", ", colon);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    out.push([type, value]);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/** undefined when a SAN matches, else the reason it does not. */
export function checkSans(cert: PeerCertificate, matchers: readonly SanMatcher[]): string | undefined {
  const sans = certificateSans(cert);
  for (const m of matchers) {
    const prefix = NODE_SAN_PREFIX[m.type];
    for (const [type, value] of sans) if (type === prefix && m.test(value)) return undefined;
  }
  // Name the certificate's SANs of the kinds asked for (its URI SAN for a SPIFFE ID).
  const kinds = new Set(matchers.map((m) => NODE_SAN_PREFIX[m.type]));
  const relevant = sans.filter(([type]) => kinds.has(type)).map(([, v]) => v);
  const shown = relevant.length === 0 ? `(no ${[...kinds].join("/")} SAN)` : relevant.join(", ");
  return `certificate SAN ${shown} does not match ${matchers.map((m) => m.description).join(" or ")}`;
}
