import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";

// src/pki is used by translate and xds, never the other way round.
test("src/pki imports nothing from model, translate or proxy", () => {
  const dir = new URL("../../src/pki/", import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(new URL(file, dir), "utf8");
    assert.doesNotMatch(text, /from "\.\.\/(model|translate|proxy)\//, file);
  }
});
