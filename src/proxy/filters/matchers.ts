// Envoy's matchers (StringMatcher, HeaderMatcher, ValueMatcher, MetadataMatcher) compiled
// once into predicates; regexes are built at config time, never per request.

import type { FilterContext } from "../contracts.js";
import { bool, type ConfigPath, list, num, type Obj, object, str } from "../config-reader.js";

export type StringPredicate = (value: string) => boolean;

/** An RE2-style full match (safe_regex) as a JavaScript RegExp. */
export function fullMatchRegex(value: unknown, where: ConfigPath): RegExp {
  const o = object(value, where, ["regex", "googleRe2"]);
  const source = str(o.regex, where.at("regex"));
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (e) {
    return where.at("regex").fail(`${JSON.stringify(source)} is not a regular expression this proxy can run: ${(e as Error).message}`);
  }
}

/** envoy.type.matcher.v3.StringMatcher. */
export function compileStringMatcher(value: unknown, where: ConfigPath): StringPredicate {
  const o = object(value, where, ["exact", "prefix", "suffix", "contains", "safeRegex", "ignoreCase"]);
  const ignoreCase = bool(o.ignoreCase, where.at("ignoreCase"));
  const kinds = ["exact", "prefix", "suffix", "contains", "safeRegex"].filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) where.fail(kinds.length === 0 ? "a string matcher needs one of exact, prefix, suffix, contains, safeRegex" : `only one of ${kinds.join(", ")} may be set`);
  if (o.safeRegex !== undefined) {
    const re = fullMatchRegex(o.safeRegex, where.at("safeRegex"));
    return (v) => re.test(v);
  }
  const kind = kinds[0]!;
  const raw = str(o[kind], where.at(kind));
  const pattern = ignoreCase ? raw.toLowerCase() : raw;
  const fold = ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v;
  switch (kind) {
    case "exact":
      return ignoreCase ? (v) => v.length === pattern.length && v.toLowerCase() === pattern : (v) => v === pattern;
    case "prefix":
      return (v) => v.length >= pattern.length && fold(v.slice(0, pattern.length)) === pattern;
    case "suffix":
      return (v) => v.length >= pattern.length && fold(v.slice(v.length - pattern.length)) === pattern;
    default:
      return (v) => fold(v).includes(pattern);
  }
}

/**
 * A request header's value as Envoy's matchers see it: pseudo-headers from the request,
 * several values joined with ",". undefined when absent.
 */
export function headerGetter(name: string): (ctx: FilterContext) => string | undefined {
  switch (name) {
    case ":method":
      return (ctx) => ctx.request.method;
    case ":path":
      return (ctx) => ctx.path;
    case ":authority":
    case "host":
      return (ctx) => ctx.request.authority;
    case ":scheme":
      return (ctx) => ctx.request.scheme;
    default:
      return (ctx) => {
        const v = ctx.headers[name];
        return v === undefined ? undefined : typeof v === "string" ? v : v.join(",");
      };
  }
}

/** envoy.config.route.v3.HeaderMatcher, with Envoy's rules for absent headers and invert_match. */
export function compileHeaderMatcher(value: unknown, where: ConfigPath): (ctx: FilterContext) => boolean {
  const o = object(value, where, [
    "name",
    "exactMatch",
    "safeRegexMatch",
    "rangeMatch",
    "presentMatch",
    "prefixMatch",
    "suffixMatch",
    "containsMatch",
    "stringMatch",
    "invertMatch",
    "treatMissingHeaderAsEmpty",
  ]);
  const name = str(o.name, where.at("name")).toLowerCase();
  const get = headerGetter(name);
  const invert = bool(o.invertMatch, where.at("invertMatch"));
  const missingAsEmpty = bool(o.treatMissingHeaderAsEmpty, where.at("treatMissingHeaderAsEmpty"));
  let match: StringPredicate;
  // A matcher with no value test checks presence (present_match true).
  let present: boolean | undefined;
  if (o.stringMatch !== undefined) match = compileStringMatcher(o.stringMatch, where.at("stringMatch"));
  else if (o.exactMatch !== undefined) match = compileStringMatcher({ exact: o.exactMatch }, where.at("exactMatch"));
  else if (o.prefixMatch !== undefined) match = compileStringMatcher({ prefix: o.prefixMatch }, where.at("prefixMatch"));
  else if (o.suffixMatch !== undefined) match = compileStringMatcher({ suffix: o.suffixMatch }, where.at("suffixMatch"));
  else if (o.containsMatch !== undefined) match = compileStringMatcher({ contains: o.containsMatch }, where.at("containsMatch"));
  else if (o.safeRegexMatch !== undefined) match = compileStringMatcher({ safeRegex: o.safeRegexMatch }, where.at("safeRegexMatch"));
  else if (o.rangeMatch !== undefined) {
    const r = object(o.rangeMatch, where.at("rangeMatch"), ["start", "end"]);
    const start = num(r.start, where.at("rangeMatch.start"), 0);
    const end = num(r.end, where.at("rangeMatch.end"), 0);
    match = (v) => {
      if (!/^-?\d+$/.test(v)) return false;
      const n = Number(v);
      return n >= start && n < end;
    };
  } else {
    present = bool(o.presentMatch, where.at("presentMatch"), true);
    match = () => present!;
  }
  return (ctx) => {
    let v = get(ctx);
    if (v === undefined) {
      if (!missingAsEmpty) return present !== undefined && (invert ? present : !present);
      v = "";
    }
    return match(v) !== invert;
  };
}

export type ValuePredicate = (value: unknown) => boolean;

/** envoy.type.matcher.v3.ValueMatcher on a JSON value (dynamic metadata). */
export function compileValueMatcher(value: unknown, where: ConfigPath): ValuePredicate {
  const o = object(value, where, ["nullMatch", "doubleMatch", "stringMatch", "boolMatch", "presentMatch", "listMatch", "orMatch"]);
  const kinds = Object.keys(o).filter((k) => k !== "@type");
  if (kinds.length !== 1) where.fail("a value matcher needs exactly one match kind");
  const kind = kinds[0]!;
  const w = where.at(kind);
  switch (kind) {
    case "nullMatch":
      return (v) => v === null;
    case "boolMatch": {
      const b = bool(o.boolMatch, w);
      return (v) => v === b;
    }
    case "presentMatch": {
      const p = bool(o.presentMatch, w);
      return (v) => p && v !== undefined;
    }
    case "stringMatch": {
      const m = compileStringMatcher(o.stringMatch, w);
      return (v) => typeof v === "string" && m(v);
    }
    case "doubleMatch": {
      const d = object(o.doubleMatch, w, ["range", "exact"]);
      if (d.exact !== undefined) {
        const x = num(d.exact, w.at("exact"));
        return (v) => v === x;
      }
      const r = object(d.range, w.at("range"), ["start", "end"]);
      const start = num(r.start, w.at("range.start"), 0);
      const end = num(r.end, w.at("range.end"), 0);
      return (v) => typeof v === "number" && v >= start && v < end;
    }
    case "listMatch": {
      const l = object(o.listMatch, w, ["oneOf"]);
      const m = compileValueMatcher(l.oneOf, w.at("oneOf"));
      return (v) => Array.isArray(v) && v.some(m);
    }
    default: {
      const or = object(o.orMatch, w, ["valueMatchers"]);
      const ms = list(or.valueMatchers, w.at("valueMatchers")).map((m, i) => compileValueMatcher(m, w.at("valueMatchers").at(i)));
      return (v) => ms.some((m) => m(v));
    }
  }
}

/** envoy.type.matcher.v3.MetadataMatcher on the request's dynamic metadata. */
export function compileMetadataMatcher(value: unknown, where: ConfigPath): (ctx: FilterContext) => boolean {
  const o = object(value, where, ["filter", "path", "value", "invert"]);
  const filter = str(o.filter, where.at("filter"));
  const path = list(o.path, where.at("path")).map((p, i) => str(object(p, where.at("path").at(i), ["key"]).key, where.at("path").at(i).at("key")));
  const match = compileValueMatcher(o.value, where.at("value"));
  const invert = bool(o.invert, where.at("invert"));
  return (ctx) => {
    let v: unknown = ctx.metadata.get(filter);
    for (let i = 0; i < path.length && v !== undefined; i++) {
      v = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj)[path[i]!] : undefined;
    }
    return match(v) !== invert;
  };
}

/** The normalised path without query string or fragment. */
export function pathOnly(path: string): string {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return path.slice(0, i);
  }
  return path;
}
