// Reading decoded Envoy resources strictly. The proxy implements a subset of the API: a
// field outside that subset is refused by its path (so the xDS client NACKs the update)
// rather than silently ignored, because ignoring it would change what the configuration
// means. Every reader runs at configuration time only, never per request.
//
// One path type and one set of readers serve the router, the HTTP filters, the upstream
// (clusters, endpoints, secrets) and the listeners; each of those fails with its own typed
// error and wording, which is what a `ReaderKind` captures.

import { ListenerInvalidError, ProxyConfigRejectedError, ProxyFilterUnsupportedError, ProxyRouteUnsupportedError } from "../errors.js";

export type Obj = Record<string, unknown>;

/** How one part of the proxy reports a value it cannot honour. */
export interface ReaderKind {
  /** The typed error for `reason` at `path` ("" = the subject itself) inside `subject`. */
  error(subject: string, path: string, reason: string): Error;
  /** The reason given when a message is not an object. */
  readonly notAnObject: string;
  /** The reason given for a field outside the known ones. */
  readonly unknownField: string;
  /** Fields every object may carry without being listed (a typed config's "@type"). */
  readonly alwaysKnown: readonly string[];
  /** Whether a field whose value is undefined counts as absent (hand-built resources). */
  readonly undefinedIsAbsent: boolean;
}

/** Route configurations: `route configuration "x" ...: a.b[2].c: reason`. */
export const ROUTE_CONFIG: ReaderKind = {
  error: (subject, path, reason) => new ProxyRouteUnsupportedError(subject, path, reason),
  notAnObject: "expected a message",
  unknownField: "field not supported by meshgate's proxy",
  alwaysKnown: [],
  undefinedIsAbsent: false,
};

/** HTTP filter configs: `http filter <name>: a.b: reason`. */
export const FILTER_CONFIG: ReaderKind = {
  error: (subject, path, reason) => new ProxyFilterUnsupportedError(subject, path || "(config)", reason),
  notAnObject: "expected an object",
  unknownField: "not supported by meshgate's proxy",
  alwaysKnown: ["@type"],
  undefinedIsAbsent: false,
};

/** Clusters, endpoints and secrets: `cluster "x": a.b: reason`. */
export const UPSTREAM_RESOURCE: ReaderKind = {
  error: (subject, path, reason) => new ProxyConfigRejectedError(subject, path || "(resource)", reason),
  notAnObject: "expected an object",
  unknownField: "not supported by this proxy",
  alwaysKnown: [],
  undefinedIsAbsent: true,
};

/** Listeners (and the secrets they name): `listener x: a.b: reason`. */
export const LISTENER: ReaderKind = {
  error: (subject, path, reason) => new ListenerInvalidError(subject, path, reason),
  notAnObject: "must be an object",
  unknownField: "not supported by the proxy",
  alwaysKnown: [],
  undefinedIsAbsent: false,
};

/** Where a value sits: the subject (a resource, a filter) and the field path inside it. */
export class ConfigPath {
  constructor(
    readonly kind: ReaderKind,
    readonly subject: string,
    readonly path = "",
  ) {}

  /** A field (`a.b`) or a list index (`a[2]`) below this path. */
  at(field: string | number): ConfigPath {
    if (typeof field === "number") return new ConfigPath(this.kind, this.subject, `${this.path}[${field}]`);
    return new ConfigPath(this.kind, this.subject, this.path ? `${this.path}.${field}` : field);
  }

  /** A map entry (`a["key"]`) below this path. */
  key(name: string): ConfigPath {
    return new ConfigPath(this.kind, this.subject, `${this.path}[${JSON.stringify(name)}]`);
  }

  fail(reason: string): never {
    throw this.kind.error(this.subject, this.path, reason);
  }
}

/** A reader of one value, as the readers below are (for wrappers and durations). */
export type Read<T> = (value: unknown, where: ConfigPath) => T;

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The object at `where`, refusing any field that is neither `known` nor `ignored` (known
 * to be harmless to ignore: statistics, tracing, hints the proxy does not need).
 */
export function object(value: unknown, where: ConfigPath, known: readonly string[], ignored: readonly string[] = []): Obj {
  const o = anyObject(value, where);
  onlyFields(o, where, known, ignored);
  return o;
}

/** The object at `where`, its fields left to the caller to check (with `onlyFields`). */
export function anyObject(value: unknown, where: ConfigPath): Obj {
  if (!isObj(value)) where.fail(where.kind.notAnObject);
  return value;
}

/** Refuses any field of `o` that is neither `known` nor `ignored`. */
export function onlyFields(o: Obj, where: ConfigPath, known: readonly string[], ignored: readonly string[] = []): void {
  const kind = where.kind;
  for (const k of Object.keys(o)) {
    if (kind.undefinedIsAbsent && o[k] === undefined) continue;
    if (known.includes(k) || ignored.includes(k) || kind.alwaysKnown.includes(k)) continue;
    where.at(k).fail(kind.unknownField);
  }
}

/** A repeated field; absent is empty. */
export function list(value: unknown, where: ConfigPath): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) where.fail("expected a list");
  return value;
}

/** A string; absent is `fallback`, or refused without one. */
export function str(value: unknown, where: ConfigPath, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "string") where.fail("expected a string");
  return value;
}

export function optStr(value: unknown, where: ConfigPath): string | undefined {
  return value === undefined ? undefined : str(value, where);
}

/** A finite number; absent is `fallback`, or refused without one. */
export function num(value: unknown, where: ConfigPath, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) where.fail("expected a number");
  return value;
}

/** A number, or a numeric string (64-bit integers may decode as strings); absent is 0. */
export function numeric(value: unknown, where: ConfigPath): number {
  const v = value ?? 0;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) where.fail("expected a number");
  return n;
}

/** An integer (or a string of digits) within `min..max`. */
export function int(value: unknown, where: ConfigPath, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n)) where.fail("expected an integer");
  if (n < min || n > max) where.fail(`${n} is outside ${min}..${max}`);
  return n;
}

/** A boolean; absent is `fallback`. */
export function bool(value: unknown, where: ConfigPath, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") where.fail("expected a boolean");
  return value;
}

/**
 * A wrapper type (UInt32Value, BoolValue, ...): `{ value }`, its value read by `read` at
 * `.value` (proto3 drops a zero value, so `{}` hands `read` undefined). Absent: `absent`.
 */
export function wrapped<T, A = T>(value: unknown, where: ConfigPath, read: Read<T>, absent: A): T | A {
  if (value === undefined) return absent;
  const o = object(value, where, ["value"]);
  return read(o.value, where.at("value"));
}

/** A google.protobuf.Duration `{ seconds, nanos }` in milliseconds, each part read by its reader. */
export function durationMs(value: unknown, where: ConfigPath, seconds: Read<number>, nanos: Read<number> = seconds): number {
  const o = object(value, where, ["seconds", "nanos"]);
  return seconds(o.seconds, where.at("seconds")) * 1000 + nanos(o.nanos, where.at("nanos")) / 1e6;
}

/** One of `allowed` enum names; absent is `dflt`. */
export function enumValue<T extends string>(value: unknown, where: ConfigPath, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) where.fail(`${JSON.stringify(value)} is not supported (supported: ${allowed.join(", ")})`);
  return value as T;
}

// ---- the flavours the parts of the proxy read ---------------------------------------------

/** A proto3 integer field read strictly: absent is 0, otherwise an integer within `min..max`. */
export function intField(min = 0, max = Number.MAX_SAFE_INTEGER): Read<number> {
  return (value, where) => (value === undefined ? 0 : int(value, where, min, max));
}

/** A UInt32Value with an integer within `min..max` (`{}` is 0); undefined when absent. */
export function wrappedInt(value: unknown, where: ConfigPath, min = 0, max = 0xffffffff): number | undefined {
  return wrapped(value, where, intField(min, max), undefined);
}

/** A UInt32Value read with `numeric` (`{}` is 0); undefined when absent. */
export function wrappedNumeric(value: unknown, where: ConfigPath): number | undefined {
  return wrapped(value, where, numeric, undefined);
}

/** A BoolValue (`{}` is false); undefined when absent. */
export function wrappedBool(value: unknown, where: ConfigPath): boolean | undefined {
  return wrapped(value, where, bool, undefined);
}

/** A Duration with integer parts (nanos below a second); undefined when absent. */
export function optionalDurationMs(value: unknown, where: ConfigPath): number | undefined {
  return value === undefined ? undefined : durationMs(value, where, intField(), intField(0, 999_999_999));
}

/** A Duration with numeric parts (strings accepted) that must not be negative; required. */
export function nonNegativeDurationMs(value: unknown, where: ConfigPath): number {
  const ms = durationMs(value, where, numeric);
  if (ms < 0) where.fail("a duration cannot be negative");
  return ms;
}

const numberOr0: Read<number> = (value, where) => num(value, where, 0);

/** A Duration with number parts; absent is `fallback`, or refused as required without one. */
export function durationMsOr(value: unknown, where: ConfigPath, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) where.fail("required");
    return fallback;
  }
  return durationMs(value, where, numberOr0);
}
