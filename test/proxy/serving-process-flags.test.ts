import { test } from "node:test";
import assert from "node:assert/strict";
import { servingProcessExecArgv as workerExecArgv } from "../../src/proxy/serving-process-flags.js";

test("workers get a 2 MB young-generation semi-space unless the operator set one", () => {
  assert.deepEqual(workerExecArgv(["--import", "tsx"]), ["--import", "tsx", "--max-semi-space-size=2"]);
  assert.deepEqual(workerExecArgv(["--max-semi-space-size=16"]), ["--max-semi-space-size=16"]);
  assert.deepEqual(workerExecArgv([]), ["--max-semi-space-size=2"]);
});
