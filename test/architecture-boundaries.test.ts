// The pipeline's boundaries (docs/architecture.md): data flows one way, so a stage never
// imports a later one. Checked on the import statements of every source file.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { ROOT } from "./helpers/cli.js";

const SRC = join(ROOT, "src");

/** stage -> stages it must not import */
const FORBIDDEN: Record<string, string[]> = {
  config: ["model", "translate", "ir", "xds", "proxy", "runtime", "cli", "pki"],
  model: ["translate", "ir", "xds", "proxy", "runtime", "cli"],
  translate: ["xds", "proxy", "runtime", "cli"],
  ir: ["model", "translate", "xds", "proxy", "runtime", "cli"],
  xds: ["model", "translate", "proxy", "runtime", "cli", "ratelimit"],
  proxy: ["model", "translate", "ir", "config", "runtime", "cli", "ratelimit"],
  // The rate limit service runs on its own: the RLS protocol and its config format (xds), logs.
  ratelimit: ["model", "translate", "ir", "proxy", "runtime", "cli", "config", "pki"],
  pki: ["model", "translate", "xds", "proxy", "runtime", "cli", "config"],
  telemetry: ["model", "translate", "xds", "proxy", "runtime", "cli", "config"],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const full = join(dir, f);
    return statSync(full).isDirectory() ? files(full) : full.endsWith(".ts") ? [full] : [];
  });
}

test("no stage imports a later stage (or the CLI/runtime)", () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const stage = relative(SRC, file).split("/")[0]!;
    const forbidden = FORBIDDEN[stage];
    if (!forbidden) continue;
    for (const m of readFileSync(file, "utf8").matchAll(/(?:import|export)[^"']*from\s+["'](\.[^"']+)["']/g)) {
      const target = relative(SRC, resolve(dirname(file), m[1]!)).split("/")[0]!;
      if (forbidden.includes(target)) violations.push(`${relative(ROOT, file)} imports ${m[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});
