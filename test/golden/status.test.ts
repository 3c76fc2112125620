// Golden tests for `meshgate validate` output: test/golden/status/<case>.in.yaml ->
// <case>.out.txt (the text report) and <case>.out.yaml (the machine-readable report).

import { test } from "node:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadSources } from "../../src/config/index.js";
import { buildModel } from "../../src/model/index.js";
import { buildReport, renderText, renderYaml } from "../../src/cli/validation-report.js";
import { assertGolden } from "./golden.js";

const DIR = join(import.meta.dirname, "status");

for (const input of readdirSync(DIR).filter((f) => f.endsWith(".in.yaml")).sort()) {
  const name = input.slice(0, -".in.yaml".length);
  test(`status golden: ${name}`, async () => {
    const sources = await loadSources([join(DIR, input)]);
    const result = buildModel(sources.documents, sources.problems);
    assertGolden(join(DIR, `${name}.out.txt`), renderText(result, sources.files, DIR));
    assertGolden(join(DIR, `${name}.out.yaml`), renderYaml(buildReport(result, sources.files, DIR)));
  });
}
