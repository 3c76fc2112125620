// Golden-file comparison. Set UPDATE_GOLDEN=1 to rewrite the expected files from the
// current output (then review the diff before committing):
//   UPDATE_GOLDEN=1 npm test

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export function assertGolden(file: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== "1") throw new Error(`golden file ${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
    writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, readFileSync(file, "utf8"), `output differs from ${file} (UPDATE_GOLDEN=1 rewrites it)`);
}
