// Unknown fields in standard kinds. The upstream schemas accept any extra field, so a
// misspelt `principal:` in an AuthorizationPolicy (for `principals:`) would silently drop
// a rule; we report every field the kind does not declare, with the closest known name.
// The field tree comes from known-fields.generated.json (scripts/generate-known-fields.ts).

import knownFields from "./known-fields.generated.json" with { type: "json" };
import type { FieldPath } from "../config/source-position.js";
import type { SchemaViolation } from "./schema-errors.js";

interface KnownFields {
  kinds: Record<string, number>;
  shapes: Record<string, number>[];
}

const known = knownFields as unknown as KnownFields;

const OBJECT_META = new Set([
  "name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion", "generation",
  "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers", "ownerReferences", "managedFields", "selfLink",
]);

export function findUnknownFields(apiVersion: string, kind: string, object: Record<string, unknown>): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  const meta = object.metadata;
  if (meta && typeof meta === "object") {
    for (const key of Object.keys(meta)) {
      if (!OBJECT_META.has(key)) out.push(unknown(["metadata", key], key, [...OBJECT_META]));
    }
  }
  const root = known.kinds[`${apiVersion}|${kind}`];
  if (root !== undefined) {
    const { metadata: _m, status: _s, ...rest } = object;
    walk(rest, root, [], out);
  }
  return out;
}

function walk(value: unknown, shapeId: number, path: (string | number)[], out: SchemaViolation[]): void {
  if (shapeId === 0 || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, shapeId, [...path, i], out));
    return;
  }
  const shape = known.shapes[shapeId]!;
  for (const [key, child] of Object.entries(value)) {
    const next = shape[key] ?? shape["*"];
    if (next === undefined) {
      out.push(unknown([...path, key], key, Object.keys(shape)));
      continue;
    }
    walk(child, next, [...path, key], out);
  }
}

function unknown(path: FieldPath, key: string, candidates: string[]): SchemaViolation {
  const close = closest(key, candidates);
  return { path, message: `unknown field "${key}"${close ? ` (did you mean "${close}"?)` : ""}; it would be ignored` };
}

/** The candidate within edit distance 2 (or differing only in case/plural), if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    if (c === "*") continue;
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : distance(word, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
