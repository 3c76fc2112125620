// Turns ajv errors (from the upstream CRD schemas and from our own) into problems that
// name the field and say what would be valid, in words a person can act on.

import type { ErrorObject } from "ajv";
import { pointerToFieldPath, type FieldPath } from "../config/source-position.js";

export interface SchemaViolation {
  readonly path: FieldPath;
  readonly message: string;
}

export function describeSchemaErrors(errors: readonly Partial<ErrorObject>[], data: unknown): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  const seen = new Set<string>();
  // `anyOf`/`oneOf` summaries add nothing when a branch already said what is wrong.
  const specific = errors.filter((e) => e.keyword !== "anyOf" && e.keyword !== "oneOf" && e.keyword !== "if" && e.keyword !== "propertyNames");
  for (const e of specific.length > 0 ? specific : errors) {
    const base = pointerToFieldPath(e.instancePath ?? "", data);
    const v = describe(e, base, valueAt(data, base));
    const key = JSON.stringify(v.path) + "\u0000" + v.message;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}

function describe(e: Partial<ErrorObject>, path: (string | number)[], value: unknown): SchemaViolation {
  const p = (e.params ?? {}) as Record<string, unknown>;
  if (e.propertyName !== undefined) {
    // A rule on the field's name (propertyNames), not on its value.
    return { path: [...path, e.propertyName], message: `field name "${e.propertyName}" is not allowed here${p.pattern ? `: it must match ${String(p.pattern)}` : ""}` };
  }
  switch (e.keyword) {
    case "required":
      return { path: [...path, String(p.missingProperty)], message: "required field is missing" };
    case "additionalProperties":
      return {
        path: [...path, String(p.additionalProperty)],
        message: `unknown field "${String(p.additionalProperty)}" (check its spelling and indentation)`,
      };
    case "enum":
      return { path, message: `must be one of ${(p.allowedValues as unknown[]).map(show).join(", ")} (got ${show(value)})` };
    case "const":
      return { path, message: `must be ${show(p.allowedValue)} (got ${show(value)})` };
    case "type":
      return { path, message: `must be ${article(String(p.type))} (got ${typeName(value)})` };
    case "pattern":
      return { path, message: `${show(value)} does not match the required format ${String(p.pattern)}` };
    case "format":
      return { path, message: `${show(value)} is not a valid ${FORMAT_NAMES[String(p.format)] ?? String(p.format)}` };
    case "minimum":
    case "exclusiveMinimum":
    case "maximum":
    case "exclusiveMaximum":
      return { path, message: `must be ${String(p.comparison)} ${String(p.limit)} (got ${show(value)})` };
    case "minLength":
      return { path, message: `must be at least ${String(p.limit)} characters long` };
    case "maxLength":
      return { path, message: `must be at most ${String(p.limit)} characters long (got ${String((value as string)?.length)})` };
    case "minItems":
      return { path, message: `must have at least ${String(p.limit)} item(s)` };
    case "maxItems":
      return { path, message: `must have at most ${String(p.limit)} item(s) (got ${String((value as unknown[])?.length)})` };
    case "minProperties":
      return { path, message: `must have at least ${String(p.limit)} field(s)` };
    case "maxProperties":
      return { path, message: `must have at most ${String(p.limit)} field(s)` };
    case "uniqueItems":
      return { path, message: `items ${String(p.j)} and ${String(p.i)} are identical; each item must be unique` };
    default:
      return { path, message: e.message ?? `fails schema rule "${String(e.keyword)}"` };
  }
}

const FORMAT_NAMES: Record<string, string> = {
  byte: "base64-encoded value (use stringData for plain text)",
  "date-time": "RFC 3339 date-time",
  uri: "URI",
  hostname: "hostname",
  ipv4: "IPv4 address",
  ipv6: "IPv6 address",
};

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${show(v)}`;
}

function article(type: string): string {
  switch (type) {
    case "object":
      return "a mapping";
    case "array":
      return "a list";
    case "integer":
      return "an integer";
    default:
      return `a ${type.replace(/,/g, " or ")}`;
  }
}
