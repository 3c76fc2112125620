// docs/errors.md must list every problem code and every error code the code can produce,
// and nothing that no longer exists.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROBLEM_CODES } from "../../src/config/problem-codes.js";
import { ROOT } from "../helpers/cli.js";

const doc = readFileSync(join(ROOT, "docs/errors.md"), "utf8");
const documented = new Set([...doc.matchAll(/^\| `((?:MG|ERR)_[A-Z0-9_]+)`/gm)].map((m) => m[1]!));

test("every problem code is documented", () => {
  assert.deepEqual(Object.keys(PROBLEM_CODES).filter((c) => !documented.has(c)), []);
});

test("every error code in src/errors.ts is documented", () => {
  const source = readFileSync(join(ROOT, "src/errors.ts"), "utf8");
  const union = source.slice(source.indexOf("export type ErrorCode"), source.indexOf(";", source.indexOf("export type ErrorCode")));
  const codes = [...union.matchAll(/"(ERR_[A-Z0-9_]+)"/g)].map((m) => m[1]!);
  assert.ok(codes.length > 0);
  assert.deepEqual(codes.filter((c) => !documented.has(c)), []);
});

test("the page documents no code that no longer exists", () => {
  const source = readFileSync(join(ROOT, "src/errors.ts"), "utf8");
  const stale = [...documented].filter((c) => !(c in PROBLEM_CODES) && !source.includes(`"${c}"`));
  assert.deepEqual(stale, []);
});
