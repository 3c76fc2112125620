import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { generateKnownFields, OUTPUT } from "../../scripts/generate-known-fields.js";

test("known-fields.generated.json matches the installed @kubernetes-models types (regenerate: node --import tsx scripts/generate-known-fields.ts)", () => {
  assert.equal(readFileSync(OUTPUT, "utf8"), generateKnownFields());
});
