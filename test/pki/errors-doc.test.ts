import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

// Keeps docs/errors.md in step with src/errors.ts for the PKI codes.
test("every PKI and trust error code is documented under '## PKI and trust'", () => {
  const source = readFileSync(new URL("../../src/errors.ts", import.meta.url), "utf8");
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## PKI and trust"));
  assert.ok(doc.includes("## PKI and trust"));
  const codes = [...source.matchAll(/"(ERR_(?:PKI|SPIFFE|TRUST)_[A-Z_]+)"/g)].map((m) => m[1]!);
  assert.ok(codes.length >= 10);
  for (const code of new Set(codes)) assert.match(section, new RegExp(`\`${code}\``), `${code} missing from docs/errors.md`);
});
