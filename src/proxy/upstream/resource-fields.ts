// Strict readers for decoded Envoy resources. The proxy implements a subset of the API;
// a field outside that subset must be refused (so the update is NACKed) rather than
// silently ignored, because ignoring it would change what the configuration means.

import { ProxyConfigRejectedError } from "../../errors.js";

export type Obj = Record<string, unknown>;

/** Where a value sits: the resource ("cluster \"x\"") and the field path inside it. */
export class FieldPath {
  constructor(
    readonly resource: string,
    readonly path: string,
  ) {}

  at(field: string | number): FieldPath {
    if (typeof field === "number") return new FieldPath(this.resource, `${this.path}[${field}]`);
    return new FieldPath(this.resource, this.path ? `${this.path}.${field}` : field);
  }

  reject(reason: string): never {
    throw new ProxyConfigRejectedError(this.resource, this.path || "(resource)", reason);
  }
}

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The value as an object whose keys are all in `allowed`. */
export function object(v: unknown, where: FieldPath, allowed: readonly string[]): Obj {
  if (!isObj(v)) where.reject("expected an object");
  for (const key of Object.keys(v)) {
    if (v[key] === undefined) continue;
    if (!allowed.includes(key)) where.at(key).reject("not supported by this proxy");
  }
  return v;
}

export function list(v: unknown, where: FieldPath): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) where.reject("expected a list");
  return v;
}

export function str(v: unknown, where: FieldPath): string {
  if (typeof v !== "string") where.reject("expected a string");
  return v;
}

export function optStr(v: unknown, where: FieldPath): string | undefined {
  return v === undefined ? undefined : str(v, where);
}

export function int(v: unknown, where: FieldPath, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) where.reject("expected an integer");
  if (n < min || n > max) where.reject(`${n} is outside ${min}..${max}`);
  return n;
}

/** A UInt32Value / BoolValue wrapper: `{ value }`, or undefined when absent. */
export function wrapped(v: unknown, where: FieldPath, min = 0, max = 0xffffffff): number | undefined {
  if (v === undefined) return undefined;
  const o = object(v, where, ["value"]);
  // proto3 drops a zero value: `{}` means 0.
  return o.value === undefined ? 0 : int(o.value, where.at("value"), min, max);
}

/** A google.protobuf.Duration `{ seconds, nanos }` in milliseconds, or undefined. */
export function durationMs(v: unknown, where: FieldPath): number | undefined {
  if (v === undefined) return undefined;
  const o = object(v, where, ["seconds", "nanos"]);
  const seconds = o.seconds === undefined ? 0 : int(o.seconds, where.at("seconds"));
  const nanos = o.nanos === undefined ? 0 : int(o.nanos, where.at("nanos"), 0, 999_999_999);
  return seconds * 1000 + nanos / 1e6;
}

export function enumValue<T extends string>(v: unknown, where: FieldPath, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) where.reject(`${JSON.stringify(v)} is not supported (supported: ${allowed.join(", ")})`);
  return v as T;
}
