// StringMatcher, HeaderMatcher and QueryParameterMatcher compiled to predicates.

import type { HeaderMap } from "../contracts.js";
import { bool, numeric, object, str, type ConfigPath } from "../config-reader.js";
import { fullMatchRegex, Re2Error } from "./re2.js";
import type { RouteInput } from "./route-decision.js";

export type StringPredicate = (value: string) => boolean;

/** A RegexMatcher (`{ regex, googleRe2? }`) as a full-match RegExp. */
export function regexMatcher(v: unknown, where: ConfigPath): RegExp {
  const m = object(v, where, ["regex"], ["googleRe2"]);
  const source = str(m.regex, where.at("regex"));
  try {
    return fullMatchRegex(source);
  } catch (e) {
    if (e instanceof Re2Error) where.at("regex").fail(`${JSON.stringify(source)}: ${e.message}`);
    throw e;
  }
}

export function stringMatcher(v: unknown, where: ConfigPath): StringPredicate {
  const m = object(v, where, ["exact", "prefix", "suffix", "contains", "safeRegex", "ignoreCase"]);
  const ignoreCase = bool(m.ignoreCase, where.at("ignoreCase"));
  const kinds = ["exact", "prefix", "suffix", "contains", "safeRegex"].filter((k) => m[k] !== undefined);
  if (kinds.length !== 1) where.fail("exactly one of exact, prefix, suffix, contains, safeRegex is required");
  const kind = kinds[0]!;
  if (kind === "safeRegex") {
    // Envoy: ignore_case has no effect on regular expressions.
    const re = regexMatcher(m.safeRegex, where.at("safeRegex"));
    return (s) => re.test(s);
  }
  const raw = str(m[kind], where.at(kind));
  if (kind !== "exact" && raw === "") where.at(kind).fail("must not be empty");
  const p = ignoreCase ? raw.toLowerCase() : raw;
  const fold = (s: string): string => (ignoreCase ? s.toLowerCase() : s);
  switch (kind) {
    case "exact":
      return ignoreCase ? (s) => s.length === p.length && s.toLowerCase() === p : (s) => s === p;
    case "prefix":
      return (s) => fold(s).startsWith(p);
    case "suffix":
      return (s) => fold(s).endsWith(p);
    default:
      return (s) => fold(s).includes(p);
  }
}

// ---- headers --------------------------------------------------------------------------

/** ConfigPath a header matcher reads its value: a request header, or a pseudo-header. */
const Source = { Header: 0, Method: 1, Authority: 2, Path: 3, Scheme: 4 } as const;
type Source = (typeof Source)[keyof typeof Source];

export interface HeaderCheck {
  readonly source: Source;
  readonly name: string;
  /** undefined: presence only. */
  readonly test: StringPredicate | undefined;
  /** For presence checks: match when present (true) or when absent (false). */
  readonly present: boolean;
  readonly invert: boolean;
  readonly missingAsEmpty: boolean;
}

const SOURCES: Record<string, Source> = { ":method": Source.Method, ":authority": Source.Authority, host: Source.Authority, ":path": Source.Path, ":scheme": Source.Scheme };

export function headerMatcher(v: unknown, where: ConfigPath): HeaderCheck {
  const m = object(v, where, ["name", "exactMatch", "safeRegexMatch", "rangeMatch", "presentMatch", "prefixMatch", "suffixMatch", "containsMatch", "stringMatch", "invertMatch", "treatMissingHeaderAsEmpty"]);
  const name = str(m.name, where.at("name")).toLowerCase();
  if (name === "") where.at("name").fail("must not be empty");
  const source = SOURCES[name] ?? Source.Header;
  if (source === Source.Header && name.startsWith(":")) where.at("name").fail(`pseudo-header ${name} cannot be matched (only :method, :authority, :path, :scheme)`);
  const invert = bool(m.invertMatch, where.at("invertMatch"));
  const missingAsEmpty = bool(m.treatMissingHeaderAsEmpty, where.at("treatMissingHeaderAsEmpty"));
  let test: StringPredicate | undefined;
  let present = true;
  if (m.stringMatch !== undefined) test = stringMatcher(m.stringMatch, where.at("stringMatch"));
  else if (m.exactMatch !== undefined) {
    const e = str(m.exactMatch, where.at("exactMatch"));
    test = (s) => s === e;
  } else if (m.safeRegexMatch !== undefined) {
    const re = regexMatcher(m.safeRegexMatch, where.at("safeRegexMatch"));
    test = (s) => re.test(s);
  } else if (m.prefixMatch !== undefined) {
    const p = str(m.prefixMatch, where.at("prefixMatch"));
    test = (s) => s.startsWith(p);
  } else if (m.suffixMatch !== undefined) {
    const p = str(m.suffixMatch, where.at("suffixMatch"));
    test = (s) => s.endsWith(p);
  } else if (m.containsMatch !== undefined) {
    const p = str(m.containsMatch, where.at("containsMatch"));
    test = (s) => s.includes(p);
  } else if (m.rangeMatch !== undefined) {
    const r = object(m.rangeMatch, where.at("rangeMatch"), ["start", "end"]);
    const start = numeric(r.start, where.at("rangeMatch.start"));
    const end = numeric(r.end, where.at("rangeMatch.end"));
    if (end <= start) where.at("rangeMatch").fail("end must be greater than start");
    // Envoy: the value must be a base-10 integer; start inclusive, end exclusive.
    test = (s) => /^-?[0-9]+$/.test(s) && Number(s) >= start && Number(s) < end;
  } else if (m.presentMatch !== undefined) {
    present = bool(m.presentMatch, where.at("presentMatch"));
  }
  // Neither: Envoy treats a bare name as "present".
  return { source, name, test, present, invert, missingAsEmpty };
}

function headerValue(input: RouteInput, check: HeaderCheck): string | undefined {
  switch (check.source) {
    case Source.Method:
      return input.method;
    case Source.Authority:
      return input.authority;
    case Source.Path:
      return input.path;
    case Source.Scheme:
      return input.scheme;
    default:
      return joined(input.headers, check.name);
  }
}

/** Envoy matches a header sent several times on its values joined with ",". */
export function joined(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : typeof v === "string" ? v : v.join(",");
}

export function headerMatches(input: RouteInput, check: HeaderCheck): boolean {
  let value = headerValue(input, check);
  if (value === undefined) {
    if (!check.missingAsEmpty) return check.test === undefined ? check.present === check.invert : check.invert;
    value = "";
  }
  const ok = check.test === undefined ? check.present : check.test(value);
  return ok !== check.invert;
}

// ---- query parameters -----------------------------------------------------------------

export interface QueryCheck {
  readonly name: string;
  /** undefined: present. */
  readonly test: StringPredicate | undefined;
}

export function queryMatcher(v: unknown, where: ConfigPath): QueryCheck {
  const m = object(v, where, ["name", "stringMatch", "presentMatch"]);
  const name = str(m.name, where.at("name"));
  if (name === "") where.at("name").fail("must not be empty");
  if (m.stringMatch !== undefined) return { name, test: stringMatcher(m.stringMatch, where.at("stringMatch")) };
  if (m.presentMatch !== undefined && !bool(m.presentMatch, where.at("presentMatch"))) where.at("presentMatch").fail("false is not supported (Envoy requires true)");
  return { name, test: undefined };
}

/** name -> first value, percent-decoded (Envoy matches the first occurrence). */
export function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf("&", start);
    if (end < 0) end = query.length;
    if (end > start) {
      const eq = query.indexOf("=", start);
      const hasValue = eq >= 0 && eq < end;
      const name = decode(query.slice(start, hasValue ? eq : end));
      if (!out.has(name)) out.set(name, hasValue ? decode(query.slice(eq + 1, end)) : "");
    }
    start = end + 1;
  }
  return out;
}

function decode(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function queryMatches(query: Map<string, string>, check: QueryCheck): boolean {
  const v = query.get(check.name);
  if (v === undefined) return false;
  return check.test === undefined || check.test(v);
}
