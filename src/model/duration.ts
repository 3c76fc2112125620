// Gateway API durations (GEP-2257): one to four `<number><unit>` parts, units h, m, s, ms,
// e.g. `1s`, `500ms`, `1m30s`. Envoy Gateway's duration fields use the same form. One
// parser so the model (which rejects what it cannot read) and the translator agree.

const PART = /(\d+)(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Milliseconds, or undefined when the text is not a Gateway API duration. */
export function parseDurationMs(d: string): number | undefined {
  if (typeof d !== "string" || d === "") return undefined;
  let total = 0;
  let matched = "";
  for (const m of d.matchAll(PART)) {
    matched += m[0];
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return matched === d ? total : undefined;
}
