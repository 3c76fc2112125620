// Reading decoded Envoy messages strictly: every field the router does not know is a
// reason to NACK (silently ignoring one could route traffic differently from what the
// control plane meant), except fields that only feed statistics or tracing.

import { ProxyRouteUnsupportedError } from "../../errors.js";

export type Msg = Record<string, unknown>;

/** Where in a RouteConfiguration a value sits, for NACK messages. */
export class Where {
  constructor(readonly text: string) {}

  fail(field: string, reason: string): never {
    throw new ProxyRouteUnsupportedError(this.text, field, reason);
  }
}

export function isMsg(v: unknown): v is Msg {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Throws for any field of `m` that is neither supported nor known to be harmless to ignore. */
export function onlyFields(m: Msg, where: Where, path: string, supported: readonly string[], ignored: readonly string[] = []): void {
  for (const key of Object.keys(m)) {
    if (supported.includes(key) || ignored.includes(key)) continue;
    where.fail(path ? `${path}.${key}` : key, "field not supported by meshgate's proxy");
  }
}

export function msg(v: unknown, where: Where, path: string): Msg {
  if (!isMsg(v)) where.fail(path, "expected a message");
  return v;
}

export function list(v: unknown, where: Where, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) where.fail(path, "expected a list");
  return v;
}

export function str(v: unknown, where: Where, path: string): string {
  if (typeof v !== "string") where.fail(path, "expected a string");
  return v;
}

export function optStr(v: unknown, where: Where, path: string): string | undefined {
  return v === undefined ? undefined : str(v, where, path);
}

function num(v: unknown, where: Where, path: string): number {
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) where.fail(path, "expected a number");
  return n;
}

export function int(v: unknown, where: Where, path: string): number {
  return num(v ?? 0, where, path);
}

/** A UInt32Value / BoolValue wrapper (`{ value }`; `{}` is the zero value). */
export function wrapped(v: unknown, where: Where, path: string): unknown {
  if (v === undefined) return undefined;
  const m = msg(v, where, path);
  onlyFields(m, where, path, ["value"]);
  return m.value;
}

export function u32Value(v: unknown, where: Where, path: string): number | undefined {
  const w = wrapped(v, where, path);
  return v === undefined ? undefined : int(w, where, `${path}.value`);
}

export function boolValue(v: unknown, where: Where, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  const w = wrapped(v, where, path);
  if (w !== undefined && typeof w !== "boolean") where.fail(`${path}.value`, "expected a boolean");
  return w === true;
}

export function bool(v: unknown, where: Where, path: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") where.fail(path, "expected a boolean");
  return v;
}

/** google.protobuf.Duration -> milliseconds. */
export function durationMs(v: unknown, where: Where, path: string): number {
  const m = msg(v, where, path);
  onlyFields(m, where, path, ["seconds", "nanos"]);
  const ms = int(m.seconds, where, `${path}.seconds`) * 1000 + int(m.nanos, where, `${path}.nanos`) / 1e6;
  if (ms < 0) where.fail(path, "a duration cannot be negative");
  return ms;
}
