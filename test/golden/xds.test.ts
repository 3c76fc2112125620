// Golden tests for the xDS resources: every proxy's resources for a configuration,
// decoded and written as YAML to test/golden/xds/<case>.out.yaml (UPDATE_GOLDEN=1
// rewrites them; review the diff).
//
// The cases are hand-built IR snapshots (test/golden/xds/cases.ts). Cases written as
// configuration (`<case>.in.yaml`, run through the model and the translator) join them
// once the translator is in place: `goldenCase(name, translate(model).ir)`.

import { test } from "node:test";
import { join } from "node:path";
import { buildSnapshots } from "../../src/xds/resources/build-snapshots.js";
import type { IrSnapshot } from "../../src/ir/index.js";
import { testCertificateSource } from "../xds/resources/fixtures.js";
import { assertGolden } from "./golden.js";
import { renderSnapshotSet } from "./xds-render.js";
import { IR_CASES } from "./xds/cases.js";

const DIR = join(import.meta.dirname, "xds");
const { source } = await testCertificateSource();

export function goldenCase(name: string, ir: IrSnapshot): void {
  assertGolden(join(DIR, `${name}.out.yaml`), renderSnapshotSet(buildSnapshots(ir, source)));
}

for (const [name, ir] of Object.entries(IR_CASES)) {
  test(`xds golden: ${name}`, () => goldenCase(name, ir()));
}
