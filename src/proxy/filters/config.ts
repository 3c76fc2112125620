// Reading decoded filter configs strictly: every field the proxy does not know is refused
// by name, so an unsupported setting is NACKed instead of silently ignored.

import { ProxyFilterUnsupportedError } from "../../errors.js";
import type { EnvoyResource } from "../contracts.js";

export type Obj = Record<string, unknown>;

/** Where in a filter's config a value sits, for error messages. */
export class Where {
  constructor(
    readonly filter: string,
    readonly path: string,
  ) {}
  at(field: string | number): Where {
    return new Where(this.filter, typeof field === "number" ? `${this.path}[${field}]` : this.path ? `${this.path}.${field}` : field);
  }
  fail(reason: string): never {
    throw new ProxyFilterUnsupportedError(this.filter, this.path || "(config)", reason);
  }
}

/** The object at `where`, refusing any field outside `known` ("@type" always allowed). */
export function object(value: unknown, where: Where, known: readonly string[]): Obj {
  if (value === null || typeof value !== "object" || Array.isArray(value)) where.fail("expected an object");
  for (const k of Object.keys(value)) {
    if (k !== "@type" && !known.includes(k)) where.at(k).fail("not supported by meshgate's proxy");
  }
  return value as Obj;
}

export function list(value: unknown, where: Where): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) where.fail("expected a list");
  return value;
}

export function str(value: unknown, where: Where, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "string") where.fail("expected a string");
  return value;
}

export function num(value: unknown, where: Where, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) where.fail("expected a number");
  return value;
}

export function bool(value: unknown, where: Where, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") where.fail("expected a boolean");
  return value;
}

/** A wrapper type (UInt32Value, BoolValue): `{ value }`. */
export function wrapped<T>(value: unknown, where: Where, read: (v: unknown, w: Where) => T, fallback: T): T {
  if (value === undefined) return fallback;
  const o = object(value, where, ["value"]);
  return o.value === undefined ? read(undefined, where.at("value")) : read(o.value, where.at("value"));
}

/** A google.protobuf.Duration in milliseconds. */
export function durationMs(value: unknown, where: Where, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) where.fail("required");
    return fallback;
  }
  const o = object(value, where, ["seconds", "nanos"]);
  return num(o.seconds, where.at("seconds"), 0) * 1000 + num(o.nanos, where.at("nanos"), 0) / 1e6;
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/**
 * A RuntimeFractionalPercent as a probability in [0, 1]. There is no runtime here, so the
 * default value is what applies. Absent: `absent` (Envoy's default differs per field).
 */
export function fractionalPercent(value: unknown, where: Where, absent: number): number {
  if (value === undefined) return absent;
  const o = object(value, where, ["defaultValue", "runtimeKey"]);
  if (o.defaultValue === undefined) return 0;
  const d = object(o.defaultValue, where.at("defaultValue"), ["numerator", "denominator"]);
  const denominator = DENOMINATORS[str(d.denominator, where.at("defaultValue.denominator"), "HUNDRED")];
  if (!denominator) return where.at("defaultValue.denominator").fail(`unknown denominator ${String(d.denominator)}`);
  return Math.min(1, num(d.numerator, where.at("defaultValue.numerator"), 0) / denominator);
}

/** Per-route configs may arrive wrapped in a FilterConfig (optional filters): unwrap. */
export function unwrapFilterConfig(config: EnvoyResource | undefined): EnvoyResource | undefined {
  if (config && config["@type"] === "type.googleapis.com/envoy.config.route.v3.FilterConfig") return config.config as EnvoyResource | undefined;
  return config;
}
