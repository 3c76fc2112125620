// Golden tests for the xDS resources: every proxy's resources for a configuration,
// decoded and written as YAML to test/golden/xds/<case>.out.yaml (UPDATE_GOLDEN=1
// rewrites them; review the diff).
//
// Two kinds of cases:
// - `<case>.in.yaml`: configuration as users write it, run through the whole pipeline
//   (model -> translate -> Envoy resources). Leading comment lines may declare
//     `# expect-errors: MG_A, MG_B`  the model errors the case is about (by code; any other
//                                    model error fails the case), and
//     `# config: examples/bookinfo`  read these paths (relative to the repository) too,
//                                    so a case can follow a shipped example as it changes.
//   Cases with global rate limits also write the rate limit service's configuration to
//   `<case>.ratelimit.yaml`.
// - hand-built IR snapshots (test/golden/xds/cases.ts), for what configuration cannot
//   express on its own.

import assert from "node:assert/strict";
import { test } from "node:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSources } from "../../src/config/index.js";
import { buildModel, type ModelResult } from "../../src/model/index.js";
import { translate } from "../../src/translate/index.js";
import { buildSnapshots } from "../../src/xds/resources/build-snapshots.js";
import { rateLimitServiceConfig, rateLimitServiceConfigYaml } from "../../src/xds/rate-limit-service-config.js";
import type { IrSnapshot } from "../../src/ir/index.js";
import type { CertificateSource } from "../../src/xds/certificate-source.js";
import { testCertificateSource } from "../xds/resources/fixtures.js";
import { goldenCertificateSource } from "./xds-certificates.js";
import { modelOf, problemLines } from "../helpers/model.js";
import { assertGolden } from "./golden.js";
import { renderSnapshotSet } from "./xds-render.js";
import { IR_CASES } from "./xds/cases.js";

const DIR = join(import.meta.dirname, "xds");
const REPO = join(import.meta.dirname, "..", "..");
const { source } = await testCertificateSource();

export function goldenCase(name: string, ir: IrSnapshot, certs: CertificateSource = source): void {
  assertGolden(join(DIR, `${name}.out.yaml`), renderSnapshotSet(buildSnapshots(ir, certs)));
}

/** `# key: value` lines of the comment block a case file starts with. */
export function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("#")) break;
    const m = /^#\s*(expect-errors|config):\s*(.*)$/.exec(line);
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), ...m[2]!.split(",").map((s) => s.trim()).filter(Boolean)]);
  }
  return out;
}

async function modelOfCase(file: string): Promise<ModelResult> {
  const text = readFileSync(file, "utf8");
  const paths = directives(text).get("config") ?? [];
  if (paths.length === 0) return modelOf(text, file);
  const sources = await loadSources([...paths.map((p) => join(REPO, p)), file]);
  return buildModel(sources.documents, sources.problems);
}

for (const input of readdirSync(DIR).filter((f) => f.endsWith(".in.yaml")).sort()) {
  const name = input.slice(0, -".in.yaml".length);
  test(`xds golden (config): ${name}`, async () => {
    const file = join(DIR, input);
    const result = await modelOfCase(file);
    const expected = (directives(readFileSync(file, "utf8")).get("expect-errors") ?? []).sort();
    const errors = result.problems.filter((p) => p.severity === "error").map((p) => p.code).sort();
    assert.deepEqual([...new Set(errors)], [...new Set(expected)], `model errors of ${input} (declare expected ones with "# expect-errors: CODE"):\n${problemLines(result, "error").join("\n")}`);
    const certs = await goldenCertificateSource(result.model.meshes.map((m) => m.trustDomain));
    const ir = translate(result.model, 1);
    goldenCase(name, ir, certs);
    // The rate limit service's configuration, for cases with global rate limits.
    const limits = rateLimitServiceConfig(ir);
    const limitsFile = join(DIR, `${name}.ratelimit.yaml`);
    if (limits.length > 0 || existsSync(limitsFile)) assertGolden(limitsFile, limits.map(rateLimitServiceConfigYaml).join("---\n"));
  });
}

for (const [name, ir] of Object.entries(IR_CASES)) {
  test(`xds golden: ${name}`, () => goldenCase(name, ir()));
}
